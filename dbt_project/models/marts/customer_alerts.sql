-- One row per customer, alert and month (预警, DOMAIN §8), each with a readable
-- reason quoting the numbers behind it. Thresholds are dbt vars.
-- Incremental by month: reads the months before kam_from_month() that the lags need.
{%- set n = var('rising_star_months') %}
{#- §8 complaint spike: recent complaints at least the minimum count and a multiple of the
    window's monthly average (one definition, used by the filter and the reason) -#}
{%- set spike -%}
(recent_complaints >= {{ var('complaint_spike_min_count') }}
and recent_complaints >= {{ var('complaint_spike_multiplier') }} * complaints / window_months)
{%- endset %}
{{ kam_monthly_config() }}
with monthly as (
    select
        cvm.*,
        lag(cvm.tier) over (partition by cvm.customer_id order by cvm.as_of_month) as previous_tier,
        {%- for i in range(1, n + 1) %}
        lag(cvm.value_score, {{ i }}) over (partition by cvm.customer_id order by cvm.as_of_month)
            as value_score_lag{{ i }},
        {%- endfor %}
        {{ var('window_months') }} as window_months
    from {{ ref('customer_value_monthly') }} as cvm
    where cvm.as_of_month >= {{ kam_read_from_month([n, 1] | max) }}
),

ranks as (
    select * from {{ ref('tier_labels') }}
),

plans as (
    select * from {{ ref('visit_plans') }}
),

churn_risk as (
    select
        customer_id,
        as_of_month,
        'churn_risk' as alert_type,
        case
            when revenue_growth <= -{{ var('churn_revenue_drop') }}
                then 'revenue ' || {{ num_text('revenue') }} || ' in the last ' || {{ num_text('window_months') }}
                    || ' months vs ' || {{ num_text('previous_revenue') }} || ' in the window before ('
                    || {{ pct_text('revenue_growth') }} || ')'
            else 'no order for ' || {{ num_text('days_since_last_order') }} || ' days, more than '
                || {{ num_text(var('churn_gap_multiplier')) }} || 'x the usual gap of '
                || {{ num_text('usual_order_gap_days') }} || ' days between orders'
        end as reason
    from monthly
    -- materiality: tiny accounts swing by 30% from one or two orders
    where greatest(coalesce(previous_revenue, 0), revenue) >= {{ var('churn_min_window_revenue') }}
        -- news only (DOMAIN §8): a customer already inactive (X) last month has churned; its move
        -- to X was reported in the month it happened
        and coalesce(previous_tier, '') != 'X'
        and (
            revenue_growth <= -{{ var('churn_revenue_drop') }}
            or (
                days_since_last_order > {{ var('churn_gap_multiplier') }} * usual_order_gap_days
                and days_since_last_order >= {{ var('churn_min_days_without_order') }}
            )
        )
),

complaint_spike as (
    select
        customer_id,
        as_of_month,
        'complaint_spike' as alert_type,
        concat_ws(
            '; ',
            case
                when severe_complaints_past_sla > 0
                    then {{ num_text('severe_complaints_past_sla') }}
                        || ' severe complaint(s) open without a response for more than '
                        || {{ num_text(var('severe_complaint_sla_hours')) }} || ' hours'
            end,
            case
                when {{ spike }}
                    then {{ num_text('recent_complaints') }} || ' complaints in the last '
                        || {{ num_text(var('complaint_spike_days')) }} || ' days vs a monthly average of '
                        || {{ num_text('complaints / window_months', 1) }} || ' over the window'
            end
        ) as reason
    from monthly
    where severe_complaints_past_sla > 0
        or {{ spike }}
),

overdue_payment as (
    select
        customer_id,
        as_of_month,
        'overdue_payment' as alert_type,
        {{ num_text('overdue_past_limit_amount') }} || ' overdue by more than '
        || {{ num_text(var('overdue_days')) }} || ' days (oldest ' || {{ num_text('max_days_overdue') }}
        || ' days past due; total overdue ' || {{ num_text('overdue_amount') }} || ')' as reason
    from {{ ref('int_customer_metrics_windowed') }}
    where overdue_past_limit_amount > {{ var('paid_tolerance') }}
        and as_of_month >= {{ kam_from_month() }}
),

under_visited as (
    select
        monthly.customer_id,
        monthly.as_of_month,
        'under_visited' as alert_type,
        case
            when monthly.days_since_last_visit is null
                then 'tier ' || monthly.tier || ' account never visited (plan: every '
                    || {{ num_text('plans.max_days_between_visits') }} || ' days)'
            else 'tier ' || monthly.tier || ' account last visited ' || {{ num_text('monthly.days_since_last_visit') }}
                || ' days ago (plan: every ' || {{ num_text('plans.max_days_between_visits') }} || ' days)'
        end as reason
    from monthly
    inner join plans
        on monthly.tier = plans.tier
    where monthly.days_since_last_visit is null
        or monthly.days_since_last_visit > plans.max_days_between_visits
),

margin_erosion as (
    select
        customer_id,
        as_of_month,
        'margin_erosion' as alert_type,
        'key account margin ' || {{ pct_text('gross_margin') }} || ' below the company floor of '
        || {{ pct_text('margin_floor') }} || ' (' || {{ num_text(100 * var('margin_floor_percentile')) }}
        || 'th percentile)' as reason
    from monthly
    where size_class = 'key'
        and gross_margin < margin_floor
),

tier_downgrade as (
    select
        monthly.customer_id,
        monthly.as_of_month,
        'tier_downgrade' as alert_type,
        'tier ' || monthly.previous_tier || ' -> ' || monthly.tier || ' (value score '
        || coalesce({{ num_text('monthly.value_score', 1) }}, 'n/a') || ')' as reason
    from monthly
    inner join ranks as now_rank
        on monthly.tier = now_rank.tier
    inner join ranks as before_rank
        on monthly.previous_tier = before_rank.tier
    where now_rank.tier_rank > before_rank.tier_rank
),

rising_star as (
    select
        customer_id,
        as_of_month,
        'rising_star' as alert_type,
        'tier ' || tier || ' customer: revenue growth ' || {{ pct_text('revenue_growth') }}
        || ', value score up {{ n }} months in a row to ' || {{ num_text('value_score', 1) }} as reason
    from monthly
    where tier in ({{ "'" ~ var('rising_star_tiers') | join("', '") ~ "'" }})
        and revenue_growth >= {{ var('rising_star_growth') }}
        {%- for i in range(1, n + 1) %}
        and {{ 'value_score' if i == 1 else 'value_score_lag' ~ (i - 1) }} > value_score_lag{{ i }}
        {%- endfor %}
),

final as (
    select * from churn_risk
    union all
    select * from complaint_spike
    union all
    select * from overdue_payment
    union all
    select * from under_visited
    union all
    select * from margin_erosion
    union all
    select * from tier_downgrade
    union all
    select * from rising_star
)

select
    customer_id,
    as_of_month,
    alert_type,
    reason
from final
where as_of_month >= {{ kam_from_month() }}

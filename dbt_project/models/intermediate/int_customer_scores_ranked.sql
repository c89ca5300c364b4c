-- One row per customer per month: the four dimension scores (0-100) of the
-- customer value scorecard (客户价值计分卡, DOMAIN §5).
--
-- Each indicator of var('scorecard_indicators') is scored as its percentile
-- rank among the customers WITH REVENUE in the window that month (direction-
-- aware: -1 means fewer is better). Customers without revenue (prospects) are
-- placed on the same scale (share of revenue customers strictly below them),
-- and get customer and service scores only. A dimension score is the
-- weighted mean of its available indicator scores.
-- Incremental by month: ranks are within a month, so only the months recomputed are read.
{%- set indicators = var('scorecard_indicators') %}
{{ kam_monthly_config() }}
with metrics as (
    select * from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ kam_from_month() }}
),

candidates as (
    -- scored: customers with revenue, and prospects with visits in the window
    select
        *,
        revenue > 0 as has_revenue
    from metrics
    where revenue > 0 or visits > 0
),

long as (
    {%- for item in indicators %}
    select
        customer_id,
        as_of_month,
        has_revenue,
        '{{ item.dimension }}' as dimension,
        '{{ item.indicator }}' as indicator,
        cast({{ item.weight }} as double precision) as indicator_weight,
        -- rounded to 9 digits so that ties are the same on every engine
        {{ kam_round(item.direction ~ ' * cast(' ~ item.indicator ~ ' as double precision)', 9) }} as signed_value
    from candidates
    where {{ item.indicator }} is not null
        {%- if item.dimension in ['financial', 'sales'] %}
        and has_revenue
        {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

counted as (
    select
        long.*,
        -- revenue customers strictly below this value (ties excluded), in one sort
        coalesce(sum(case when has_revenue then 1 else 0 end) over (
            partition by as_of_month, indicator
            order by signed_value
            range between unbounded preceding and current row exclude group
        ), 0) as revenue_below,
        sum(case when has_revenue then 1 else 0 end) over (
            partition by as_of_month, indicator
        ) as revenue_population
    from long
),

indicator_scores as (
    select
        customer_id,
        as_of_month,
        dimension,
        indicator,
        indicator_weight,
        -- equals percent_rank() among revenue customers; clamped for prospects
        case
            when revenue_population <= 1 then 0.5
            else least(
                cast(revenue_below as double precision) / (revenue_population - 1),
                1.0
            )
        end as indicator_score
    from counted
),

dimension_scores as (
    -- a dimension score: the weighted mean of its indicators' scores
    select
        customer_id,
        as_of_month,
        {%- for dimension in ['financial', 'sales', 'customer', 'service'] %}
        -- rounded: float sums depend on the order rows are aggregated in, and a
        -- rerun must give identical marts (DESIGN.md §2)
        {{ kam_round("100 * sum(case when dimension = '" ~ dimension ~ "' then indicator_weight * indicator_score end)"
                     ~ " / sum(case when dimension = '" ~ dimension ~ "' then indicator_weight end)", 6) }}
            as {{ dimension }}_score{{ "," if not loop.last }}
        {%- endfor %}
    from indicator_scores
    group by customer_id, as_of_month
),

final as (
    select
        candidates.customer_id,
        candidates.as_of_month,
        dimension_scores.financial_score,
        dimension_scores.sales_score,
        dimension_scores.customer_score,
        dimension_scores.service_score
    from candidates
    left join dimension_scores
        on candidates.customer_id = dimension_scores.customer_id
        and candidates.as_of_month = dimension_scores.as_of_month
)

select * from final

-- One row per customer per as_of_month: the scorecard, the classes and the
-- metrics behind them (DOMAIN §4-§6), so BI can explain every tier.
-- Incremental by month (kam_monthly_config): a daily run replaces the months from
-- var('rebuild_from_month') on; `kam run --full-refresh` gives the same rows.
{{ kam_monthly_config() }}
with metrics as (
    select * from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ kam_from_month() }}
),

values_scored as (
    select * from {{ ref('int_customer_values_scored') }}
    where as_of_month >= {{ kam_from_month() }}
),

abc as (
    select * from {{ ref('int_customer_abc_classified') }}
    where as_of_month >= {{ kam_from_month() }}
),

pseudo as (
    select * from {{ ref('int_customer_pseudo_key_accounts') }}
    where as_of_month >= {{ kam_from_month() }}
),

tiers as (
    select * from {{ ref('int_customer_tiers_assigned') }}
    where as_of_month >= {{ kam_from_month() }}
),

segments as (
    select * from {{ ref('int_customer_segments_classified') }}
    where as_of_month >= {{ kam_from_month() }}
),

margins as (
    select * from {{ ref('int_company_margins_monthly') }}
    where as_of_month >= {{ kam_from_month() }}
),

labels as (
    select * from {{ ref('tier_labels') }}
),

final as (
    select
        tiers.customer_id,
        tiers.as_of_month,
        metrics.as_of_date,
        metrics.is_complete_month,
        -- classes (§6)
        tiers.tier,
        labels.label_en as tier_label_en,
        labels.label_zh as tier_label_zh,
        tiers.computed_tier,
        tiers.raw_tier,
        tiers.score_tier,
        tiers.override_reason,
        abc.abc_class,
        abc.prior_share,
        tiers.size_class,
        segments.value_quadrant,
        pseudo.is_pseudo_key_account,
        segments.profit_role,
        segments.value_type,
        -- scores (§5)
        values_scored.value_score,
        values_scored.current_value_score,
        values_scored.potential_value_score,
        values_scored.financial_score,
        values_scored.sales_score,
        values_scored.customer_score,
        values_scored.service_score,
        -- sales metrics (§4)
        metrics.revenue,
        metrics.previous_revenue,
        metrics.revenue_growth,
        metrics.order_count,
        metrics.active_months,
        metrics.days_since_last_order,
        metrics.usual_order_gap_days,
        metrics.largest_order_share,
        metrics.service_solution_share,
        -- financial metrics
        metrics.gross_profit,
        metrics.gross_margin,
        metrics.collection_rate,
        metrics.overdue_amount,
        metrics.overdue_past_limit_amount,
        metrics.avg_days_to_pay,
        metrics.avg_discount_rate,
        -- customer metrics
        metrics.annual_budget,
        metrics.budget_headroom,
        metrics.share_of_wallet,
        metrics.relationship_level,
        metrics.relationship_score,
        metrics.roles_covered,
        metrics.is_strategic_partner,
        metrics.tenure_months,
        -- service metrics
        metrics.complaints,
        metrics.severe_complaints,
        metrics.open_complaints,
        metrics.severe_complaints_past_sla,
        metrics.median_first_response_hours,
        metrics.resolution_rate,
        metrics.avg_satisfaction,
        metrics.recent_complaints,
        -- engagement
        metrics.visits,
        metrics.days_since_last_visit,
        metrics.latest_sales_stage,
        -- company references of the month
        margins.median_gross_margin,
        margins.margin_floor
    from tiers
    inner join metrics
        on tiers.customer_id = metrics.customer_id
        and tiers.as_of_month = metrics.as_of_month
    inner join values_scored
        on tiers.customer_id = values_scored.customer_id
        and tiers.as_of_month = values_scored.as_of_month
    inner join pseudo
        on tiers.customer_id = pseudo.customer_id
        and tiers.as_of_month = pseudo.as_of_month
    inner join segments
        on tiers.customer_id = segments.customer_id
        and tiers.as_of_month = segments.as_of_month
    left join abc
        on tiers.customer_id = abc.customer_id
        and tiers.as_of_month = abc.as_of_month
    left join margins
        on tiers.as_of_month = margins.as_of_month
    inner join labels
        on tiers.tier = labels.tier
)

select
    customer_id,
    as_of_month,
    as_of_date,
    is_complete_month,
    tier,
    tier_label_en,
    tier_label_zh,
    computed_tier,
    raw_tier,
    score_tier,
    override_reason,
    abc_class,
    prior_share,
    size_class,
    value_quadrant,
    is_pseudo_key_account,
    profit_role,
    value_type,
    value_score,
    current_value_score,
    potential_value_score,
    financial_score,
    sales_score,
    customer_score,
    service_score,
    revenue,
    previous_revenue,
    revenue_growth,
    order_count,
    active_months,
    days_since_last_order,
    usual_order_gap_days,
    largest_order_share,
    service_solution_share,
    gross_profit,
    gross_margin,
    collection_rate,
    overdue_amount,
    overdue_past_limit_amount,
    avg_days_to_pay,
    avg_discount_rate,
    annual_budget,
    budget_headroom,
    share_of_wallet,
    relationship_level,
    relationship_score,
    roles_covered,
    is_strategic_partner,
    tenure_months,
    complaints,
    severe_complaints,
    open_complaints,
    severe_complaints_past_sla,
    median_first_response_hours,
    resolution_rate,
    avg_satisfaction,
    recent_complaints,
    visits,
    days_since_last_visit,
    latest_sales_stage,
    median_gross_margin,
    margin_floor
from final

-- One row per customer per month: the segment classes (DOMAIN §6). Key accounts
-- (size_class 'key') get a profit role (profit at or above the month's median gross
-- margin, else volume) and a value type (strategic: partner or alliance; extrinsic:
-- service + solution share from var('extrinsic_min_service_share'); else intrinsic).
-- Every scored customer gets a current x potential quadrant, cut at var('quadrant_cut').
{%- set cut = var('quadrant_cut') %}
{{ kam_monthly_config() }}
with metrics as (
    select
        customer_id,
        as_of_month,
        gross_margin,
        is_strategic_partner,
        relationship_level,
        service_solution_share
    from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ kam_from_month() }}
),

values_scored as (
    select * from {{ ref('int_customer_values_scored') }}
    where as_of_month >= {{ kam_from_month() }}
),

tiers as (
    select
        customer_id,
        as_of_month,
        size_class
    from {{ ref('int_customer_tiers_assigned') }}
    where as_of_month >= {{ kam_from_month() }}
),

margins as (
    select * from {{ ref('int_company_margins_monthly') }}
    where as_of_month >= {{ kam_from_month() }}
),

final as (
    select
        metrics.customer_id,
        metrics.as_of_month,
        case
            when tiers.size_class <> 'key' then null
            when metrics.gross_margin >= margins.median_gross_margin then 'profit'
            else 'volume'
        end as profit_role,
        case
            when tiers.size_class <> 'key' then null
            when metrics.is_strategic_partner or metrics.relationship_level = 'alliance' then 'strategic'
            when metrics.service_solution_share >= {{ var('extrinsic_min_service_share') }} then 'extrinsic'
            else 'intrinsic'
        end as value_type,
        case
            when values_scored.current_value_score >= {{ cut }}
                and values_scored.potential_value_score >= {{ cut }} then 'star'
            when values_scored.current_value_score >= {{ cut }} then 'cash_cow'
            when values_scored.potential_value_score >= {{ cut }} then 'develop'
            when values_scored.potential_value_score is not null then 'maintain'
        end as value_quadrant
    from metrics
    inner join tiers
        on metrics.customer_id = tiers.customer_id
        and metrics.as_of_month = tiers.as_of_month
    left join values_scored
        on metrics.customer_id = values_scored.customer_id
        and metrics.as_of_month = values_scored.as_of_month
    left join margins
        on metrics.as_of_month = margins.as_of_month
)

select * from final

-- One row per customer per month: the value scores (DOMAIN §5). Current value =
-- financial + sales, potential value = customer + service, total = all four, each a
-- weighted mean of dimension scores with var('dimension_weights').
{%- set wts = var('dimension_weights') %}
{{ kam_monthly_config() }}
with metrics as (
    select
        customer_id,
        as_of_month
    from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ kam_from_month() }}
),

scores as (
    select * from {{ ref('int_customer_scores_ranked') }}
    where as_of_month >= {{ kam_from_month() }}
),

final as (
    select
        metrics.customer_id,
        metrics.as_of_month,
        scores.financial_score,
        scores.sales_score,
        scores.customer_score,
        scores.service_score,
        {{ kam_round('(' ~ wts.financial ~ ' * scores.financial_score + ' ~ wts.sales ~ ' * scores.sales_score) / '
                     ~ (wts.financial + wts.sales), 6) }} as current_value_score,
        {{ kam_round('(' ~ wts.customer ~ ' * scores.customer_score + ' ~ wts.service ~ ' * scores.service_score) / '
                     ~ (wts.customer + wts.service), 6) }} as potential_value_score,
        {{ kam_round(wts.financial ~ ' * scores.financial_score + ' ~ wts.sales ~ ' * scores.sales_score + '
                     ~ wts.customer ~ ' * scores.customer_score + ' ~ wts.service ~ ' * scores.service_score', 6) }}
            as value_score
    from metrics
    left join scores
        on metrics.customer_id = scores.customer_id
        and metrics.as_of_month = scores.as_of_month
)

select * from final

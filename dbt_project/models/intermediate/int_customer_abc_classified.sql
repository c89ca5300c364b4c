-- One row per customer per month with revenue: the ABC (Pareto) class (DOMAIN §6).
-- Customers rank by revenue (ties by customer id); prior_share is the revenue of all
-- customers ranked above / the month's total, cut at var('abc_thresholds').
{%- set abc = var('abc_thresholds') %}
{{ kam_monthly_config() }}
with metrics as (
    select
        customer_id,
        as_of_month,
        revenue
    from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ kam_from_month() }}
        and revenue > 0
),

ranked as (
    select
        customer_id,
        as_of_month,
        -- a double on every engine (Spark divides decimals into decimal(38,6))
        cast(coalesce(sum(revenue) over (
            partition by as_of_month
            order by revenue desc, customer_id asc
            rows between unbounded preceding and 1 preceding
        ), 0) as {{ kam_double() }}) / sum(revenue) over (partition by as_of_month) as prior_share
    from metrics
),

final as (
    select
        customer_id,
        as_of_month,
        prior_share,
        case
            when prior_share < {{ abc.A }} then 'A'
            when prior_share < {{ abc.B }} then 'B'
            when prior_share < {{ abc.C }} then 'C'
            else 'D'
        end as abc_class
    from ranked
)

select * from final

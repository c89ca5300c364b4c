-- One row per customer per month: is it a pseudo key account (伪大客户, DOMAIN §6)?
-- One large order makes the revenue (var('pseudo_key_account')) and it would rank
-- ABC A or B; the tier model caps such an account at pseudo_key_account.max_tier.
{%- set pka = var('pseudo_key_account') %}
{{ kam_monthly_config() }}
with metrics as (
    select * from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ kam_from_month() }}
),

abc as (
    select * from {{ ref('int_customer_abc_classified') }}
    where as_of_month >= {{ kam_from_month() }}
),

final as (
    select
        metrics.customer_id,
        metrics.as_of_month,
        coalesce(
            metrics.largest_order_share >= {{ pka.min_largest_order_share }}
            and metrics.order_count <= {{ pka.max_order_count }}
            and abc.abc_class in ('A', 'B'),
            false
        ) as is_pseudo_key_account
    from metrics
    left join abc
        on metrics.customer_id = abc.customer_id
        and metrics.as_of_month = abc.as_of_month
)

select * from final

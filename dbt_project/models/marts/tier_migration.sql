-- Per month, how many customers (and how much window revenue) moved from each
-- tier to each tier since the previous month (DOMAIN §7): the transition matrix.
-- from_tier 'new' = the customer's first month.
-- Incremental by month: reads one month before kam_from_month() for the lag (a
-- customer's months have no holes, int_customer_months_spined).
{{ kam_monthly_config() }}
with monthly as (
    select
        customer_id,
        as_of_month,
        tier,
        revenue,
        coalesce(lag(tier) over (partition by customer_id order by as_of_month), 'new') as from_tier
    from {{ ref('customer_value_monthly') }}
    where as_of_month >= {{ kam_read_from_month(1) }}
),

final as (
    select
        as_of_month,
        from_tier,
        tier as to_tier,
        count(*) as customers,
        -- decimal(18, 2) as the mart it sums (an unconstrained numeric on PostgreSQL otherwise)
        cast(sum(revenue) as decimal(18, 2)) as revenue
    from monthly
    where as_of_month >= {{ kam_from_month() }}
    group by as_of_month, from_tier, tier
)

select
    as_of_month,
    from_tier,
    to_tier,
    from_tier = to_tier as is_same_tier,
    customers,
    revenue
from final

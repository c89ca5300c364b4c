-- Every customer-month is covered by exactly one history interval, with the same tier
-- (DOMAIN §7: the SCD2 history is derived from the monthly series, no gaps or overlaps).
with monthly as (
    select
        customer_id,
        as_of_month,
        tier
    from {{ ref('customer_value_monthly') }}
),

covering as (
    select
        monthly.customer_id,
        monthly.as_of_month,
        monthly.tier as monthly_tier,
        count(history.tier) as intervals,
        min(history.tier) as history_tier
    from monthly
    left join {{ ref('customer_tier_history') }} as history
        on monthly.customer_id = history.customer_id
        and history.valid_from <= monthly.as_of_month
        -- coalesce, not "is null or": a plain range condition keeps this a fast range join
        and monthly.as_of_month < coalesce(history.valid_to, cast('9999-12-01' as date))
    group by monthly.customer_id, monthly.as_of_month, monthly.tier
)

select *
from covering
where intervals <> 1 or history_tier <> monthly_tier

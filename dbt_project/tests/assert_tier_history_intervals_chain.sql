-- SCD2 invariants: intervals of a customer chain without gaps (valid_to = next
-- valid_from), never change to the same tier, and only the last one is open.
with ordered as (
    select
        customer_id,
        tier,
        valid_from,
        valid_to,
        is_current,
        lead(valid_from) over (partition by customer_id order by valid_from) as next_valid_from,
        lead(tier) over (partition by customer_id order by valid_from) as next_tier
    from {{ ref('customer_tier_history') }}
)

select *
from ordered
where (next_valid_from is null and (valid_to is not null or not is_current))
    or (next_valid_from is not null and (valid_to <> next_valid_from or is_current))
    or next_tier = tier
    or valid_to <= valid_from

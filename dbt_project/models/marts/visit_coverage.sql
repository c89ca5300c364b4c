-- Per month and tier with a visit plan (DOMAIN §10): accounts, accounts
-- visited within their plan, coverage, and the accounts out of plan.
with monthly as (
    select * from {{ ref('customer_value_monthly') }}
),

plans as (
    select * from {{ ref('visit_plans') }}
),

planned as (
    select
        monthly.as_of_month,
        monthly.tier,
        monthly.customer_id,
        plans.max_days_between_visits,
        coalesce(monthly.days_since_last_visit <= plans.max_days_between_visits, false) as is_within_plan
    from monthly
    inner join plans
        on monthly.tier = plans.tier
),

final as (
    select
        as_of_month,
        tier,
        cast(max(max_days_between_visits) as integer) as max_days_between_visits,  -- a seed's integer: bigint on Spark
        count(*) as accounts,
        cast(sum(case when is_within_plan then 1 else 0 end) as bigint) as accounts_within_plan,
        {{ kam_listagg_sorted("case when not is_within_plan then customer_id end", "', '") }}
            as accounts_out_of_plan
    from planned
    group by as_of_month, tier
)

select
    as_of_month,
    tier,
    max_days_between_visits,
    accounts,
    accounts_within_plan,
    cast(accounts_within_plan as {{ kam_double() }}) / accounts as coverage_rate,
    accounts_out_of_plan
from final

-- One row per customer: the master data plus an inferred member for every
-- customer that appears in facts before its master row arrived (DESIGN.md §3).
-- No personal contact data. Activity comes from the facts (latest versions up to
-- the run date), so the incremental facts are not ranked again here.
with customers as (
    select * from {{ ref('stg_crm__customers') }}
    where cast(created_at as date) <= {{ kam_run_date() }}
),

order_lines as (
    select * from {{ ref('fct_order_lines') }}
),

complaints as (
    select * from {{ ref('fct_complaints') }}
),

visits as (
    select * from {{ ref('fct_visits') }}
),

fact_dates as (
    select
        customer_id,
        order_date as activity_date
    from order_lines
    union all
    select
        customer_id,
        cast(opened_at as date) as activity_date
    from complaints
    union all
    select
        customer_id,
        visit_date as activity_date
    from visits
),

activity as (
    select
        customer_id,
        min(activity_date) as first_activity_date,
        max(activity_date) as last_activity_date
    from fact_dates
    where activity_date <= {{ kam_run_date() }}
    group by customer_id
),

mastered as (
    select
        customers.customer_id,
        customers.customer_name,
        customers.industry,
        customers.region,
        customers.employee_count,
        customers.annual_budget,
        customers.account_manager,
        customers.is_strategic_partner,
        customers.created_at,
        activity.first_activity_date,
        activity.last_activity_date,
        false as is_inferred,
        {{ month_start("least(cast(customers.created_at as date), coalesce(activity.first_activity_date, cast(customers.created_at as date)))") }} as customer_since_month  -- noqa: LT05
    from customers
    left join activity
        on customers.customer_id = activity.customer_id
),

inferred as (
    -- facts arrived before the master row: keep them, flag the member
    select
        activity.customer_id,
        '(unknown: not yet in customer master)' as customer_name,
        cast(null as {{ dbt.type_string() }}) as industry,
        cast(null as {{ dbt.type_string() }}) as region,
        cast(null as bigint) as employee_count,
        cast(null as decimal(18, 2)) as annual_budget,
        cast(null as {{ dbt.type_string() }}) as account_manager,
        false as is_strategic_partner,
        cast(null as {{ dbt.type_timestamp() }}) as created_at,
        activity.first_activity_date,
        activity.last_activity_date,
        true as is_inferred,
        {{ month_start('activity.first_activity_date') }} as customer_since_month
    from activity
    left join customers
        on activity.customer_id = customers.customer_id
    where customers.customer_id is null
),

final as (
    select * from mastered
    union all
    select * from inferred
)

select
    customer_id,
    customer_name,
    industry,
    region,
    employee_count,
    annual_budget,
    account_manager,
    is_strategic_partner,
    created_at,
    first_activity_date,
    last_activity_date,
    is_inferred,
    customer_since_month
from final

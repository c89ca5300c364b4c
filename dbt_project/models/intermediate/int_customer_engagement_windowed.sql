-- One row per customer per month: visits and relationship (DOMAIN §4
-- customer and engagement metrics) over the trailing window or as of the month.
-- Incremental by month: reads the trailing window before kam_from_month(); the
-- latest visit before that comes from `before`, so "latest ever" stays exact.
{%- set read_from = kam_read_from_month(var('window_months') - 1) %}
{{ kam_monthly_config() }}
with spine as (
    select * from {{ ref('int_customer_months_spined') }}
    where as_of_month >= {{ read_from }}
),

all_visits as (
    select * from {{ ref('fct_visits') }}
),

before as (
    -- per customer, the latest visit month and date before the months read
    select
        customer_id,
        max(visit_month) as visit_month,
        max(visit_date) as last_visit_date
    from all_visits
    where visit_month < {{ read_from }}
    group by customer_id
),

visits as (
    select * from all_visits
    where visit_month >= {{ read_from }}
),

ranked_visits as (
    -- the latest visit of each month gives that month's relationship and stage
    select
        customer_id,
        visit_month,
        visit_date,
        relationship_level,
        relationship_score,
        sales_stage,
        row_number() over (
            partition by customer_id, visit_month
            order by visit_date desc, visit_id desc
        ) as recency_rank
    from all_visits
    where visit_month >= {{ read_from }}
        or (customer_id, visit_month) in (
            select
                before.customer_id,
                before.visit_month
            from before
        )
),

monthly as (
    select
        visits.customer_id,
        visits.visit_month,
        count(*) as visits,
        max(visits.visit_date) as last_visit_date
    from visits
    group by visits.customer_id, visits.visit_month
),

spined as (
    select
        spine.customer_id,
        spine.as_of_month,
        spine.as_of_date,
        coalesce(monthly.visits, 0) as visits_in_month,
        -- latest month with a visit up to this one (no IGNORE NULLS: portable)
        coalesce(max(monthly.visit_month) over (
            partition by spine.customer_id
            order by spine.as_of_month
            rows between unbounded preceding and current row
        ), before.visit_month) as latest_visit_month,
        coalesce(max(monthly.last_visit_date) over (
            partition by spine.customer_id
            order by spine.as_of_month
            rows between unbounded preceding and current row
        ), before.last_visit_date) as last_visit_date,
        cast(sum(coalesce(monthly.visits, 0)) over (
            partition by spine.customer_id
            order by spine.as_of_month
            rows between {{ var('window_months') - 1 }} preceding and current row
        ) as bigint) as visits
    from spine
    left join monthly
        on spine.customer_id = monthly.customer_id
        and spine.as_of_month = monthly.visit_month
    left join before
        on spine.customer_id = before.customer_id
),

calendar as (
    -- the months recomputed (the same for every customer)
    select distinct as_of_month from spine
    where as_of_month >= {{ kam_from_month() }}
),

monthly_roles as (
    -- each buyer role met, once per customer and month
    select distinct
        customer_id,
        visit_month,
        buyer_role
    from visits
    where buyer_role is not null
),

roles as (
    -- distinct buyer roles met inside the window (0-6): a month's roles are joined
    -- only to the months whose window holds it, not to every month of the customer
    select
        monthly_roles.customer_id,
        calendar.as_of_month,
        count(distinct monthly_roles.buyer_role) as roles_covered
    from monthly_roles
    inner join calendar
        on monthly_roles.visit_month <= calendar.as_of_month
        and calendar.as_of_month <= {{ kam_add_months('monthly_roles.visit_month', var('window_months') - 1) }}
    group by monthly_roles.customer_id, calendar.as_of_month
),

final as (
    select
        spined.customer_id,
        spined.as_of_month,
        spined.visits,
        spined.last_visit_date,
        {{ kam_datediff('spined.last_visit_date', 'spined.as_of_date', 'day') }} as days_since_last_visit,  -- noqa: LT05
        latest.relationship_level,
        latest.relationship_score,
        latest.sales_stage as latest_sales_stage,
        coalesce(roles.roles_covered, 0) as roles_covered
    from spined
    left join ranked_visits as latest
        on spined.customer_id = latest.customer_id
        and spined.latest_visit_month = latest.visit_month
        and latest.recency_rank = 1
    left join roles
        on spined.customer_id = roles.customer_id
        and spined.as_of_month = roles.as_of_month
    where spined.as_of_month >= {{ kam_from_month() }}
)

select * from final

-- One row per customer per month: service metrics (DOMAIN §4) over the
-- trailing window, and the complaint state at the as-of date (for §8 alerts).
-- A complaint is joined only to the months whose window or as-of date it can fall
-- in (its opening month and the window_months - 1 after it; the months until it
-- closed), not to every month of its customer; the conditions are checked on those.
{%- set w = var('window_months') %}
{{ kam_monthly_config() }}
with spine as (
    select
        customer_id,
        as_of_month,
        as_of_date,
        {{ end_of_day('as_of_date') }} as as_of_end
    from {{ ref('int_customer_months_spined') }}
    where as_of_month >= {{ kam_from_month() }}
),

calendar as (
    -- the months recomputed and their as-of ends (the same for every customer)
    select distinct
        as_of_month,
        as_of_end
    from spine
),

closed as (
    select
        *,
        coalesce(
            resolved_at,
            case when status in ('resolved', 'closed') then updated_at end
        ) as closed_at
    from {{ ref('fct_complaints') }}
),

complaints as (
    select
        *,
        {{ kam_add_months('opened_month', w - 1) }} as last_window_month,
        -- the last month it can be open in: its closing month (far ahead while open)
        coalesce({{ month_start('closed_at') }}, cast('9999-12-01' as date)) as open_until_month
    from closed
),

in_window as (
    select
        complaints.customer_id,
        calendar.as_of_month,
        count(*) as complaints,
        sum(case when complaints.is_severe then 1 else 0 end) as severe_complaints,
        {{ kam_median('complaints.first_response_hours') }} as median_first_response_hours,
        sum(case when complaints.resolved_at < calendar.as_of_end then 1 else 0 end) as resolved_complaints,
        cast(avg(complaints.satisfaction) as {{ kam_double() }}) as avg_satisfaction,
        sum(case
            when complaints.opened_at >= cast(
                    {{ dbt.dateadd('day', -var('complaint_spike_days'), 'calendar.as_of_end') }} as {{ dbt.type_timestamp() }}  -- noqa: LT05
                )
                then 1
            else 0
        end) as recent_complaints
    from complaints
    inner join calendar
        -- inside the window ending with the month, and opened by its as-of end
        on complaints.opened_month <= calendar.as_of_month
        and complaints.last_window_month >= calendar.as_of_month
        and complaints.opened_at < calendar.as_of_end
    group by complaints.customer_id, calendar.as_of_month
),

open_at_as_of as (
    select
        complaints.customer_id,
        calendar.as_of_month,
        count(*) as open_complaints,
        sum(case
            when complaints.is_severe
                and (complaints.first_response_at is null or complaints.first_response_at >= calendar.as_of_end)
                and complaints.opened_at < cast(
                    {{ dbt.dateadd('hour', -var('severe_complaint_sla_hours'), 'calendar.as_of_end') }} as {{ dbt.type_timestamp() }}  -- noqa: LT05
                )
                then 1
            else 0
        end) as severe_past_sla
    from complaints
    inner join calendar
        -- from its opening month, until the month it closed in
        on complaints.opened_month <= calendar.as_of_month
        and calendar.as_of_month <= complaints.open_until_month
        -- point in time: still open at the as-of date (a closed ticket without
        -- resolved_at counts as resolved when it was last updated)
        and complaints.opened_at < calendar.as_of_end
        and (complaints.closed_at is null or complaints.closed_at >= calendar.as_of_end)
    group by complaints.customer_id, calendar.as_of_month
),

final as (
    select
        spine.customer_id,
        spine.as_of_month,
        -- counts as bigint (a sum() of integers is a hugeint on DuckDB, slow to scan)
        cast(coalesce(in_window.complaints, 0) as bigint) as complaints,
        cast(coalesce(in_window.severe_complaints, 0) as bigint) as severe_complaints,
        cast(coalesce(open_at_as_of.open_complaints, 0) as bigint) as open_complaints,
        cast(coalesce(open_at_as_of.severe_past_sla, 0) as bigint) as severe_complaints_past_sla,
        in_window.median_first_response_hours,
        case
            when in_window.complaints > 0
                then cast(in_window.resolved_complaints as {{ kam_double() }}) / in_window.complaints
        end as resolution_rate,
        in_window.avg_satisfaction,
        cast(coalesce(in_window.recent_complaints, 0) as bigint) as recent_complaints
    from spine
    left join in_window
        on spine.customer_id = in_window.customer_id
        and spine.as_of_month = in_window.as_of_month
    left join open_at_as_of
        on spine.customer_id = open_at_as_of.customer_id
        and spine.as_of_month = open_at_as_of.as_of_month
)

select * from final

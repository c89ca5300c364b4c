-- One row per customer per month: service metrics (DOMAIN §4) over the
-- trailing window, and the complaint state at the as-of date (for §8 alerts).
{{ kam_monthly_config() }}
with spine as (
    select
        customer_id,
        as_of_month,
        as_of_date,
        window_start_month,
        {{ end_of_day('as_of_date') }} as as_of_end
    from {{ ref('int_customer_months_spined') }}
    where as_of_month >= {{ kam_from_month() }}
),

complaints as (
    select
        *,
        coalesce(
            resolved_at,
            case when status in ('resolved', 'closed') then updated_at end
        ) as closed_at
    from {{ ref('fct_complaints') }}
),

in_window as (
    select
        spine.customer_id,
        spine.as_of_month,
        count(*) as complaints,
        sum(case when complaints.is_severe then 1 else 0 end) as severe_complaints,
        {{ kam_median('complaints.first_response_hours') }} as median_first_response_hours,
        sum(case when complaints.resolved_at < spine.as_of_end then 1 else 0 end) as resolved_complaints,
        avg(complaints.satisfaction) as avg_satisfaction,
        sum(case
            when complaints.opened_at >= cast({{ dbt.dateadd('day', -var('complaint_spike_days'), 'spine.as_of_end') }}
                                              as {{ dbt.type_timestamp() }})
                then 1 else 0
        end) as recent_complaints
    from spine
    inner join complaints
        on complaints.customer_id = spine.customer_id
        and complaints.opened_at >= spine.window_start_month
        and complaints.opened_at < spine.as_of_end
    group by spine.customer_id, spine.as_of_month
),

open_at_as_of as (
    select
        spine.customer_id,
        spine.as_of_month,
        count(*) as open_complaints,
        sum(case
            when complaints.is_severe
                and (complaints.first_response_at is null or complaints.first_response_at >= spine.as_of_end)
                and complaints.opened_at < cast({{ dbt.dateadd('hour', -var('severe_complaint_sla_hours'), 'spine.as_of_end') }}
                                                as {{ dbt.type_timestamp() }})
                then 1 else 0
        end) as severe_past_sla
    from spine
    inner join complaints
        on complaints.customer_id = spine.customer_id
        and complaints.opened_at < spine.as_of_end
        -- point in time: still open at the as-of date (a closed ticket without
        -- resolved_at counts as resolved when it was last updated)
        and (complaints.closed_at is null or complaints.closed_at >= spine.as_of_end)
    group by spine.customer_id, spine.as_of_month
),

final as (
    select
        spine.customer_id,
        spine.as_of_month,
        coalesce(in_window.complaints, 0) as complaints,
        coalesce(in_window.severe_complaints, 0) as severe_complaints,
        coalesce(open_at_as_of.open_complaints, 0) as open_complaints,
        coalesce(open_at_as_of.severe_past_sla, 0) as severe_complaints_past_sla,
        in_window.median_first_response_hours,
        case when in_window.complaints > 0
            then cast(in_window.resolved_complaints as double precision) / in_window.complaints
        end as resolution_rate,
        in_window.avg_satisfaction,
        coalesce(in_window.recent_complaints, 0) as recent_complaints
    from spine
    left join in_window
        on spine.customer_id = in_window.customer_id
        and spine.as_of_month = in_window.as_of_month
    left join open_at_as_of
        on spine.customer_id = open_at_as_of.customer_id
        and spine.as_of_month = open_at_as_of.as_of_month
)

select * from final

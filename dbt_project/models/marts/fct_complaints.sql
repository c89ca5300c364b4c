-- One row per complaint (latest version) opened up to the run date.
-- Incremental: a daily run rewrites only the keys with new versions (kam_changed_keys,
-- macros/run_context.sql); `kam run --full-refresh` rebuilds it and gives the same rows.
{%- set in_range = "cast(opened_at as date) <= " ~ kam_run_date() %}
{{ kam_fact_config('complaint_id', in_range) }}
with complaints as (
    {{ kam_latest_changed(ref('stg_ticketing__complaints'), ['complaint_id'], 'opened_at', in_range) }}
),

final as (
    select
        complaint_id,
        customer_id,
        opened_at,
        {{ month_start('opened_at') }} as opened_month,
        channel,
        category,
        severity,
        severity >= {{ var('severe_complaint_min_severity') }} as is_severe,
        status,
        status in ('open', 'in_progress') as is_open,
        first_response_at,
        cast({{ kam_minutes_between('opened_at', 'first_response_at') }} as {{ kam_double() }}) / 60  -- noqa: LT05
            as first_response_hours,
        resolved_at,
        satisfaction,
        updated_at,
        source_batch_id
    from complaints
)

select
    complaint_id,
    customer_id,
    opened_at,
    opened_month,
    channel,
    category,
    severity,
    is_severe,
    status,
    is_open,
    first_response_at,
    first_response_hours,
    resolved_at,
    satisfaction,
    updated_at,
    source_batch_id
from final

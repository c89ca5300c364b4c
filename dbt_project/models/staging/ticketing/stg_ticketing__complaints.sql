-- One row per complaint (latest version).
with latest as (
    {{ latest_version(source('ticketing', 'complaints'), ['complaint_id']) }}
),

final as (
    select
        complaint_id,
        customer_id,
        opened_at,
        channel,
        category,
        severity,
        status,
        first_response_at,
        resolved_at,
        satisfaction,
        updated_at,
        _batch_id as source_batch_id
    from latest
)

select * from final

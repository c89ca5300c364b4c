-- One row per loaded version of a complaint; fct_complaints keeps the latest.
with versions as (
    select * from {{ source('ticketing', 'complaints') }}
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
        _batch_id as source_batch_id,
        _row_number as source_row_number
    from versions
)

select * from final

-- One row per loaded version of a visit; fct_visits keeps the latest.
with versions as (
    select * from {{ source('crm', 'visits') }}
),

final as (
    select
        visit_id,
        customer_id,
        visit_date,
        visit_type,
        sales_rep,
        buyer_role,
        sales_stage,
        relationship_level,
        updated_at,
        _batch_id as source_batch_id,
        _row_number as source_row_number
    from versions
)

select * from final

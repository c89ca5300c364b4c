-- One row per visit (latest version).
with latest as (
    {{ latest_version(source('crm', 'visits'), ['visit_id']) }}
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
        _batch_id as source_batch_id
    from latest
)

select * from final

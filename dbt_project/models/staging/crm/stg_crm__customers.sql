-- One row per customer: the latest master version (contact name and phone are
-- personal data and stay in raw, DESIGN.md §3).
with latest as (
    {{ latest_version(source('crm', 'customers'), ['customer_id']) }}
),

final as (
    select
        customer_id,
        customer_name,
        industry,
        region,
        employee_count,
        annual_budget,
        account_manager,
        coalesce(is_strategic_partner, false) as is_strategic_partner,
        created_at,
        updated_at,
        _batch_id as source_batch_id
    from latest
)

select * from final

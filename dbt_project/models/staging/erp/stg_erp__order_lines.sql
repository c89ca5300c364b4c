-- One row per order line (latest version: corrections with a later updated_at
-- replace the earlier line, DESIGN.md §2).
with latest as (
    {{ latest_version(source('erp', 'orders'), ['order_id', 'line_no']) }}
),

final as (
    select
        order_id || '-' || cast(line_no as {{ dbt.type_string() }}) as order_line_id,
        order_id,
        line_no,
        customer_id,
        order_date,
        product_id,
        product_category,
        quantity,
        list_price,
        net_amount,
        cost,
        currency,
        status,
        invoice_due_date,
        paid_amount,
        paid_date,
        updated_at,
        _batch_id as source_batch_id
    from latest
)

select * from final

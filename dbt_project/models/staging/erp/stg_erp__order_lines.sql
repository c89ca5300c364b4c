-- One row per loaded version of an order line (typed, renamed, with lineage).
-- fct_order_lines keeps the latest version of each line (DESIGN.md §2).
with versions as (
    select * from {{ source('erp', 'orders') }}
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
        _batch_id as source_batch_id,
        _row_number as source_row_number
    from versions
)

select * from final

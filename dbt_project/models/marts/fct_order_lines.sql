-- One row per order line (latest version) dated up to the run date.
-- Incremental: a daily run rewrites only the keys with new versions (kam_changed_keys,
-- macros/run_context.sql); `kam run --full-refresh` rebuilds it and gives the same rows.
{%- set in_range = "order_date <= " ~ kam_run_date() %}
{{ kam_fact_config('order_line_id', in_range) }}
with order_lines as (
    {{ kam_latest_changed(ref('stg_erp__order_lines'), ['order_id', 'line_no'], 'order_date', in_range) }}
),

final as (
    select
        order_line_id,
        order_id,
        line_no,
        customer_id,
        order_date,
        {{ month_start('order_date') }} as order_month,
        product_id,
        product_category,
        status,
        -- DOMAIN §4: revenue counts every non-cancelled line; returns are negative
        status <> 'cancelled' as is_revenue,
        quantity,
        list_price,
        net_amount,
        cost,
        -- the contract's types on every adapter (Spark widens a difference and a product)
        cast(case when status <> 'cancelled' then net_amount - coalesce(cost, 0) end as decimal(18, 2)) as gross_profit,
        cast(quantity * list_price as decimal(18, 4)) as list_amount,
        currency,
        invoice_due_date,
        coalesce(paid_amount, 0) as paid_amount,
        paid_date,
        updated_at,
        source_batch_id
    from order_lines
)

select
    order_line_id,
    order_id,
    line_no,
    customer_id,
    order_date,
    order_month,
    product_id,
    product_category,
    status,
    is_revenue,
    quantity,
    list_price,
    net_amount,
    cost,
    gross_profit,
    list_amount,
    currency,
    invoice_due_date,
    paid_amount,
    paid_date,
    updated_at,
    source_batch_id
from final

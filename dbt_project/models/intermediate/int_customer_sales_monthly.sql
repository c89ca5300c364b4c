-- One row per customer per month with orders: the additive pieces of the
-- sales and financial metrics (DOMAIN §4), summed over windows downstream.
-- Incremental by month (kam_monthly_config): only orders with a line in a month
-- being recomputed are read, whole (an order's month is its first line's).
{{ kam_monthly_config('order_month') }}
with order_lines as (
    select * from {{ ref('fct_order_lines') }}
    where is_revenue
        and order_id in (
            select changed.order_id from {{ ref('fct_order_lines') }} as changed
            where changed.order_month >= {{ kam_from_month() }}
        )
),

orders as (
    -- an order's amount, for "largest single order" (pseudo key account, §6)
    select
        customer_id,
        order_id,
        min(order_month) as order_month,
        sum(net_amount) as order_amount
    from order_lines
    group by customer_id, order_id
),

largest as (
    select
        customer_id,
        order_month,
        max(order_amount) as largest_order_amount,
        cast(count(*) as bigint) as order_count
    from orders
    group by customer_id, order_month
),

lines as (
    select
        customer_id,
        order_month,
        -- stored as decimal(18, 2) and bigint, not decimal(38, 2) and hugeint (as metrics_windowed)
        cast(sum(net_amount) as decimal(18, 2)) as revenue,
        cast(sum(gross_profit) as decimal(18, 2)) as gross_profit,
        cast(
            sum(case when product_category in ('service', 'solution') then net_amount else 0 end)
            as decimal(18, 2)
        ) as service_solution_revenue,
        cast(sum(case when list_amount > 0 then net_amount else 0 end) as decimal(18, 2)) as discounted_net_amount,
        cast(sum(case when list_amount > 0 then list_amount else 0 end) as decimal(18, 4)) as list_amount,
        cast(count(distinct order_date) as bigint) as order_days,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from order_lines
    group by customer_id, order_month
),

final as (
    select
        lines.customer_id,
        lines.order_month,
        lines.revenue,
        lines.gross_profit,
        lines.service_solution_revenue,
        lines.discounted_net_amount,
        lines.list_amount,
        lines.order_days,
        lines.first_order_date,
        lines.last_order_date,
        largest.order_count,
        largest.largest_order_amount
    from lines
    left join largest
        on lines.customer_id = largest.customer_id
        and lines.order_month = largest.order_month
)

select * from final
where order_month >= {{ kam_from_month() }}

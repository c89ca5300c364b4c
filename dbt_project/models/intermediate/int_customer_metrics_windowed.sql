-- One row per customer per month: every DOMAIN §4 metric over the trailing
-- window of var('window_months') months ending with the as-of month.
-- Window sums use ROWS frames on the hole-free monthly spine.
-- Incremental by month: reads 2 windows before kam_from_month() (previous_revenue);
-- the last order before that comes from `before`.
{%- set w = var('window_months') %}
{%- set read_from = kam_read_from_month(2 * w - 1) %}
{{ kam_monthly_config() }}
with spine as (
    select * from {{ ref('int_customer_months_spined') }}
    where as_of_month >= {{ read_from }}
),

sales as (
    select * from {{ ref('int_customer_sales_monthly') }}
    where order_month >= {{ read_from }}
),

before as (
    select
        customer_id,
        max(last_order_date) as last_order_date
    from {{ ref('int_customer_sales_monthly') }}
    where order_month < {{ read_from }}
    group by customer_id
),

customers as (
    select * from {{ ref('dim_customers') }}
),

monthly as (
    select
        spine.customer_id,
        spine.as_of_month,
        spine.as_of_date,
        spine.is_complete_month,
        coalesce(sales.revenue, 0) as month_revenue,
        coalesce(sales.gross_profit, 0) as month_gross_profit,
        coalesce(sales.service_solution_revenue, 0) as month_service_solution_revenue,
        coalesce(sales.discounted_net_amount, 0) as month_discounted_net_amount,
        coalesce(sales.list_amount, 0) as month_list_amount,
        coalesce(sales.order_count, 0) as month_order_count,
        coalesce(sales.order_days, 0) as month_order_days,
        sales.first_order_date as month_first_order_date,
        sales.last_order_date as month_last_order_date,
        sales.largest_order_amount as month_largest_order_amount,
        before.last_order_date as before_last_order_date
    from spine
    left join sales
        on spine.customer_id = sales.customer_id
        and spine.as_of_month = sales.order_month
    left join before
        on spine.customer_id = before.customer_id
),

windowed as (
    select
        customer_id,
        as_of_month,
        as_of_date,
        is_complete_month,
        {#- sums stored as bigint and decimal(18, 2), not DuckDB's hugeint and decimal(38, 2) for
            sum(): later scans of those are 10-140x slower (docs/benchmarks.md, issue 22) -#}
        {%- for column, type in [('revenue', 'decimal(18, 2)'), ('gross_profit', 'decimal(18, 2)'),
                                 ('service_solution_revenue', 'decimal(18, 2)'),
                                 ('discounted_net_amount', 'decimal(18, 2)'), ('list_amount', 'decimal(18, 4)'),
                                 ('order_count', 'bigint'), ('order_days', 'bigint')] %}
        cast(sum(month_{{ column }}) over (
            partition by customer_id order by as_of_month
            rows between {{ w - 1 }} preceding and current row
        ) as {{ type }}) as {{ column }},
        {%- endfor %}
        cast(sum(month_revenue) over (
            partition by customer_id order by as_of_month
            rows between {{ 2 * w - 1 }} preceding and {{ w }} preceding
        ) as decimal(18, 2)) as previous_revenue,
        cast(sum(case when month_revenue <> 0 then 1 else 0 end) over (
            partition by customer_id order by as_of_month
            rows between {{ w - 1 }} preceding and current row
        ) as bigint) as active_months,
        max(month_largest_order_amount) over (
            partition by customer_id order by as_of_month
            rows between {{ w - 1 }} preceding and current row
        ) as largest_order_amount,
        min(month_first_order_date) over (
            partition by customer_id order by as_of_month
            rows between {{ w - 1 }} preceding and current row
        ) as first_order_date_in_window,
        coalesce(max(month_last_order_date) over (
            partition by customer_id order by as_of_month
            rows between unbounded preceding and current row
        ), before_last_order_date) as last_order_date,
        -- revenue per month, kept for the rising-star and churn explanations
        month_revenue
    from monthly
),

final as (
    select
        windowed.customer_id,
        windowed.as_of_month,
        windowed.as_of_date,
        windowed.is_complete_month,
        -- sales (销售)
        windowed.revenue,
        windowed.order_count,
        windowed.active_months,
        windowed.previous_revenue,
        case
            when windowed.previous_revenue > 0
                then cast(windowed.revenue as {{ kam_double() }}) / windowed.previous_revenue - 1
        end as revenue_growth,
        {{ kam_datediff('windowed.last_order_date', 'windowed.as_of_date', 'day') }} as days_since_last_order,  -- noqa: LT05
        windowed.last_order_date,
        -- usual gap between order days inside the window (null with fewer than two)
        case
            when windowed.order_days > 1
                then cast({{ dbt.datediff('windowed.first_order_date_in_window', 'windowed.last_order_date', 'day') }} as {{ kam_double() }})  -- noqa: LT05
                    / (windowed.order_days - 1)
        end as usual_order_gap_days,
        -- financial (财务); ratios as doubles on every engine (Spark divides decimals into decimal(38,6))
        windowed.gross_profit,
        case
            when windowed.revenue > 0 then cast(windowed.gross_profit as {{ kam_double() }}) / windowed.revenue
        end as gross_margin,
        receivables.collection_rate,
        receivables.overdue_amount,
        receivables.overdue_past_limit_amount,
        receivables.max_days_overdue,
        receivables.avg_days_to_pay,
        case
            when windowed.list_amount > 0
                then 1 - cast(windowed.discounted_net_amount as {{ kam_double() }}) / windowed.list_amount
        end as avg_discount_rate,
        -- customer (客户)
        customers.annual_budget,
        cast(case
            when customers.annual_budget is not null
                then greatest(customers.annual_budget - greatest(windowed.revenue, 0), 0)
        end as decimal(18, 2)) as budget_headroom,
        case
            when customers.annual_budget > 0
                then cast(windowed.revenue as {{ kam_double() }}) / customers.annual_budget
        end as share_of_wallet,
        engagement.relationship_level,
        engagement.relationship_score,
        engagement.roles_covered,
        customers.is_strategic_partner,
        case when customers.is_strategic_partner then 1 else 0 end as strategic_partner_flag,
        {{ kam_datediff('customers.customer_since_month', 'windowed.as_of_month', 'month') }} as tenure_months,  -- noqa: LT05
        -- service (服务)
        service.complaints,
        service.severe_complaints,
        service.open_complaints,
        service.severe_complaints_past_sla,
        service.median_first_response_hours,
        service.resolution_rate,
        service.avg_satisfaction,
        service.recent_complaints,
        -- engagement
        engagement.visits,
        engagement.last_visit_date,
        engagement.days_since_last_visit,
        engagement.latest_sales_stage,
        -- concentration and mix
        case
            when windowed.revenue > 0
                then cast(windowed.largest_order_amount as {{ kam_double() }}) / windowed.revenue
        end as largest_order_share,
        case
            when windowed.revenue > 0
                then cast(windowed.service_solution_revenue as {{ kam_double() }}) / windowed.revenue
        end as service_solution_share,
        windowed.month_revenue
    from windowed
    inner join customers
        on windowed.customer_id = customers.customer_id
    left join {{ ref('int_customer_receivables_as_of') }} as receivables
        on windowed.customer_id = receivables.customer_id
        and windowed.as_of_month = receivables.as_of_month
    left join {{ ref('int_customer_service_windowed') }} as service
        on windowed.customer_id = service.customer_id
        and windowed.as_of_month = service.as_of_month
    left join {{ ref('int_customer_engagement_windowed') }} as engagement
        on windowed.customer_id = engagement.customer_id
        and windowed.as_of_month = engagement.as_of_month
    where windowed.as_of_month >= {{ kam_from_month() }}
)

select * from final

-- One row per customer per month: receivables as they stood at the as-of date
-- (DOMAIN §4 collection_rate, overdue_amount, avg_days_to_pay). A line counts as
-- paid only if it was paid by the as-of date, so history is point-in-time.
{{ kam_monthly_config() }}
with spine as (
    select * from {{ ref('int_customer_months_spined') }}
    where as_of_month >= {{ kam_from_month() }}
),

invoices as (
    select
        customer_id,
        order_id,
        invoice_due_date,
        order_date,
        net_amount,
        paid_amount,
        paid_date
    from {{ ref('fct_order_lines') }}
    where is_revenue
        and invoice_due_date is not null
        and net_amount > 0
),

due_in_window as (
    -- invoices due inside the window and by the as-of date: collection rate
    select
        spine.customer_id,
        spine.as_of_month,
        sum(invoices.net_amount) as invoiced_due_amount,
        sum(case when invoices.paid_date <= spine.as_of_date then invoices.paid_amount else 0 end)
            as collected_amount
    from spine
    inner join invoices
        on invoices.customer_id = spine.customer_id
        and invoices.invoice_due_date >= spine.window_start_month
        and invoices.invoice_due_date <= spine.as_of_date
    group by spine.customer_id, spine.as_of_month
),

open_at_as_of as (
    -- invoices past due and not (fully) paid at the as-of date
    select
        spine.customer_id,
        spine.as_of_month,
        sum(invoices.net_amount
            - case when invoices.paid_date <= spine.as_of_date then invoices.paid_amount else 0 end)
            as overdue_amount,
        sum(case
            when invoices.invoice_due_date
                < cast({{ dbt.dateadd('day', -var('overdue_days'), 'spine.as_of_date') }} as date)
                then invoices.net_amount
                    - case when invoices.paid_date <= spine.as_of_date then invoices.paid_amount else 0 end
            else 0
        end) as overdue_past_limit_amount,
        max({{ dbt.datediff('invoices.invoice_due_date', 'spine.as_of_date', 'day') }}) as max_days_overdue
    from spine
    inner join invoices
        on invoices.customer_id = spine.customer_id
        and invoices.invoice_due_date < spine.as_of_date
        and (invoices.paid_date is null or invoices.paid_date > spine.as_of_date
             or invoices.paid_amount < invoices.net_amount - 0.005)
    group by spine.customer_id, spine.as_of_month
),

paid_in_window as (
    select
        spine.customer_id,
        spine.as_of_month,
        avg({{ dbt.datediff('invoices.order_date', 'invoices.paid_date', 'day') }}) as avg_days_to_pay
    from spine
    inner join invoices
        on invoices.customer_id = spine.customer_id
        and invoices.paid_date >= spine.window_start_month
        and invoices.paid_date <= spine.as_of_date
    group by spine.customer_id, spine.as_of_month
),

final as (
    select
        spine.customer_id,
        spine.as_of_month,
        due_in_window.invoiced_due_amount,
        due_in_window.collected_amount,
        case when due_in_window.invoiced_due_amount > 0
            then due_in_window.collected_amount / due_in_window.invoiced_due_amount
        end as collection_rate,
        coalesce(open_at_as_of.overdue_amount, 0) as overdue_amount,
        coalesce(open_at_as_of.overdue_past_limit_amount, 0) as overdue_past_limit_amount,
        open_at_as_of.max_days_overdue,
        paid_in_window.avg_days_to_pay
    from spine
    left join due_in_window
        on spine.customer_id = due_in_window.customer_id
        and spine.as_of_month = due_in_window.as_of_month
    left join open_at_as_of
        on spine.customer_id = open_at_as_of.customer_id
        and spine.as_of_month = open_at_as_of.as_of_month
    left join paid_in_window
        on spine.customer_id = paid_in_window.customer_id
        and spine.as_of_month = paid_in_window.as_of_month
)

select * from final

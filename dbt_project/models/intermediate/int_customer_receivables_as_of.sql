-- One row per customer per month: receivables as they stood at the as-of date
-- (DOMAIN §4 collection_rate, overdue_amount, avg_days_to_pay). A line counts as
-- paid only if it was paid by the as-of date, so history is point-in-time.
--
-- How, without joining every invoice to every month of its customer (that join
-- was the slowest step of the build): a month's as-of date is its last day, or
-- the run date in the run's month, so "date <= as-of date" and "date < as-of
-- date" each hold from one first month on. An invoice therefore adds to a
-- trailing-window sum over one interval of months; it is added in the interval's
-- first month, taken back in the month after its last, and a running sum per
-- customer gives every month's value. Invoices open at an as-of date (for the
-- largest days overdue, which is no sum) are joined only to the months they are
-- open in. The unit test receivables_are_point_in_time_at_each_as_of_date pins the
-- edges (month ends, the run date, partial and early payments).
{%- set w = var('window_months') %}
{#- incremental: an interval that ends before the first month recomputed adds and takes
    back before it, so invoices due (or paid) before its window are not read -#}
{%- set read_from = kam_read_from_month(w - 1) %}
{{ kam_monthly_config() }}
with spine as (
    select * from {{ ref('int_customer_months_spined') }}
),

run as (
    select
        max(as_of_month) as run_month,
        max(as_of_date) as run_date
    from spine
),

calendar as (
    -- the months recomputed, with their as-of dates (the same for every customer)
    select distinct
        as_of_month,
        as_of_date
    from spine
    where as_of_month >= {{ kam_from_month() }}
),

invoices as (
    select
        order_lines.customer_id,
        order_lines.invoice_due_date,
        order_lines.order_date,
        order_lines.net_amount,
        order_lines.paid_amount,
        order_lines.paid_date,
        {{ month_start('order_lines.invoice_due_date') }} as due_month,
        {{ month_start('order_lines.paid_date') }} as paid_month,
        {{ kam_first_as_of_month('order_lines.invoice_due_date', 'run.run_date', false) }} as due_by_month,
        {{ kam_first_as_of_month('order_lines.invoice_due_date', 'run.run_date', true) }} as past_due_month,
        {{ kam_first_as_of_month(kam_add_days('order_lines.invoice_due_date', var('overdue_days')), 'run.run_date', true) }}  -- noqa: LT05
            as past_limit_month,
        {{ kam_first_as_of_month('order_lines.paid_date', 'run.run_date', false) }} as paid_by_month,
        {{ dbt.datediff('order_lines.order_date', 'order_lines.paid_date', 'day') }} as days_to_pay  -- noqa: LT05
    from {{ ref('fct_order_lines') }} as order_lines
    cross join run
    where order_lines.is_revenue
        and order_lines.invoice_due_date is not null
        and order_lines.net_amount > 0
    {%- if is_incremental() %}
        -- due or paid inside the window read, or maybe still open (the rest cannot reach a month recomputed)
        and (order_lines.invoice_due_date >= {{ read_from }} or order_lines.paid_date >= {{ read_from }}
             or order_lines.paid_date is null or order_lines.paid_amount < order_lines.net_amount - {{ var('paid_tolerance') }})
        {%- endif %}
),

due_in_window as (
    -- due by the as-of date of a month recomputed or of the window before it
    select * from invoices
    where due_by_month is not null and due_month >= {{ read_from }}
),

paid_in_window as (
    select * from invoices
    where paid_by_month is not null and paid_month >= {{ read_from }}
),

collected_in_window as (
    -- due and paid by the as-of date: from the later of the two months
    select
        *,
        greatest(due_by_month, paid_by_month) as collected_month
    from due_in_window
    where paid_by_month is not null
        and greatest(due_by_month, paid_by_month) < {{ kam_add_months('due_month', w) }}
),

changes as (
    -- due inside the window and by the as-of date: from due_by_month to w-1 months after the due month
    select
        customer_id,
        due_by_month as as_of_month,
        net_amount as due_amount,
        1 as due_count,
        0 as collected_amount,
        0 as days_to_pay,
        0 as paid_count
    from due_in_window
    union all
    select
        customer_id,
        {{ kam_add_months('due_month', w) }} as as_of_month,
        -net_amount as due_amount,
        -1 as due_count,
        0 as collected_amount,
        0 as days_to_pay,
        0 as paid_count
    from due_in_window
    union all
    select
        customer_id,
        collected_month as as_of_month,
        0 as due_amount,
        0 as due_count,
        paid_amount as collected_amount,
        0 as days_to_pay,
        0 as paid_count
    from collected_in_window
    union all
    select
        customer_id,
        {{ kam_add_months('due_month', w) }} as as_of_month,
        0 as due_amount,
        0 as due_count,
        -paid_amount as collected_amount,
        0 as days_to_pay,
        0 as paid_count
    from collected_in_window
    -- paid inside the window and by the as-of date
    union all
    select
        customer_id,
        paid_by_month as as_of_month,
        0 as due_amount,
        0 as due_count,
        0 as collected_amount,
        days_to_pay,
        1 as paid_count
    from paid_in_window
    union all
    select
        customer_id,
        {{ kam_add_months('paid_month', w) }} as as_of_month,
        0 as due_amount,
        0 as due_count,
        0 as collected_amount,
        -days_to_pay as days_to_pay,
        -1 as paid_count
    from paid_in_window
    -- no change: a row for every month computed, so the running sums reach it
    union all
    select
        customer_id,
        as_of_month,
        0 as due_amount,
        0 as due_count,
        0 as collected_amount,
        0 as days_to_pay,
        0 as paid_count
    from spine
    where as_of_month >= {{ kam_from_month() }}
),

monthly_changes as (
    -- incremental: the changes before the first month recomputed only make its opening
    -- balance, so they are summed into that month (a no-op on a full build)
    select
        customer_id,
        greatest(as_of_month, {{ kam_from_month() }}) as as_of_month,
        sum(due_amount) as due_amount,
        sum(due_count) as due_count,
        sum(collected_amount) as collected_amount,
        sum(days_to_pay) as days_to_pay,
        sum(paid_count) as paid_count
    from changes
    group by customer_id, greatest(as_of_month, {{ kam_from_month() }})
),

windowed as (
    select
        customer_id,
        as_of_month,
        sum(due_amount) over running as due_amount,
        sum(due_count) over running as due_count,
        sum(collected_amount) over running as collected_amount,
        sum(days_to_pay) over running as days_to_pay,
        sum(paid_count) over running as paid_count
    from monthly_changes
    window running as (partition by customer_id order by as_of_month rows between unbounded preceding and current row)
),

open_invoices as (
    -- past due and not (fully) paid: open from past_due_month until paid by the as-of date
    -- (joined to the months recomputed only, so an incremental build reads what is open in them)
    select
        invoices.*,
        case
            when invoices.paid_by_month is null
                or invoices.paid_amount < invoices.net_amount - {{ var('paid_tolerance') }}
                then run.run_month
            else {{ kam_add_months('invoices.paid_by_month', -1) }}
        end as open_until_month
    from invoices
    cross join run
    where invoices.past_due_month is not null
),

open_at_as_of as (
    select
        open_invoices.customer_id,
        calendar.as_of_month,
        sum(
            open_invoices.net_amount
            - case when open_invoices.paid_date <= calendar.as_of_date then open_invoices.paid_amount else 0 end)
            as overdue_amount,
        sum(case
            when open_invoices.past_limit_month <= calendar.as_of_month
                then open_invoices.net_amount
                    - case when open_invoices.paid_date <= calendar.as_of_date then open_invoices.paid_amount else 0 end
            else 0
        end) as overdue_past_limit_amount,
        max({{ kam_datediff('open_invoices.invoice_due_date', 'calendar.as_of_date', 'day') }}) as max_days_overdue
    from open_invoices
    inner join calendar
        on open_invoices.past_due_month <= calendar.as_of_month
        and open_invoices.open_until_month >= calendar.as_of_month
    group by open_invoices.customer_id, calendar.as_of_month
),

final as (
    select
        spine.customer_id,
        spine.as_of_month,
        -- amounts as decimal(18, 2): one scale on every engine, and fast to scan (not decimal(38, 2))
        cast(case when windowed.due_count > 0 then windowed.due_amount end as decimal(18, 2)) as invoiced_due_amount,
        cast(case when windowed.due_count > 0 then windowed.collected_amount end as decimal(18, 2)) as collected_amount,
        case
            when windowed.due_count > 0
                then cast(windowed.collected_amount as {{ kam_double() }}) / windowed.due_amount
        end as collection_rate,
        cast(coalesce(open_at_as_of.overdue_amount, 0) as decimal(18, 2)) as overdue_amount,
        cast(coalesce(open_at_as_of.overdue_past_limit_amount, 0) as decimal(18, 2)) as overdue_past_limit_amount,
        open_at_as_of.max_days_overdue,
        case
            when windowed.paid_count > 0
                then cast(windowed.days_to_pay as {{ kam_double() }}) / windowed.paid_count
        end as avg_days_to_pay
    from spine
    left join windowed
        on spine.customer_id = windowed.customer_id
        and spine.as_of_month = windowed.as_of_month
    left join open_at_as_of
        on spine.customer_id = open_at_as_of.customer_id
        and spine.as_of_month = open_at_as_of.as_of_month
    where spine.as_of_month >= {{ kam_from_month() }}
)

select * from final

-- One row per customer per month, from the customer's first month
-- (creation or first activity) to the month of the run date: the history
-- has no holes (DOMAIN §6: every month has a row, X when inactive).
with months as (
    {{ kam_month_series("(select min(customer_since_month) from " ~ ref('dim_customers') ~ ")",
                        month_start(kam_run_date())) }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        customers.customer_id,
        months.as_of_month,
        -- the as-of date: month end for closed months, the run date for the current one
        case
            when months.as_of_month = {{ month_start(kam_run_date()) }} then {{ kam_run_date() }}
            else {{ kam_month_end('months.as_of_month') }}
        end as as_of_date,
        months.as_of_month < {{ month_start(kam_run_date()) }} as is_complete_month,
        {{ kam_add_months('months.as_of_month', 1 - var('window_months')) }} as window_start_month
    from customers
    inner join months
        on customers.customer_since_month <= months.as_of_month
)

select * from final

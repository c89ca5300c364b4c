-- One row per month: the company-wide gross margin references of the customers with
-- revenue, the median (DOMAIN §6 profit role) and the var('margin_floor_percentile')
-- percentile (§8 margin erosion).
{{ kam_monthly_config() }}
with metrics as (
    select
        as_of_month,
        gross_margin
    from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ kam_from_month() }}
        and revenue > 0
),

final as (
    select
        as_of_month,
        {{ kam_median('gross_margin') }} as median_gross_margin,
        {{ kam_percentile('gross_margin', var('margin_floor_percentile')) }} as margin_floor
    from metrics
    group by as_of_month
)

select * from final

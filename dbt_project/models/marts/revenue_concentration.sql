-- Per month: the 80/20 claim measured (DOMAIN §9) over customers with revenue
-- in the window: top-20% share, customers that make 80% of revenue, Gini.
-- Incremental by month (kam_monthly_config): a month depends only on its own rows.
{{ kam_monthly_config() }}
with ranked as (
    select
        as_of_month,
        customer_id,
        revenue,
        row_number() over (partition by as_of_month order by revenue desc, customer_id asc) as revenue_rank,
        row_number() over (partition by as_of_month order by revenue, customer_id) as ascending_rank,
        count(*) over (partition by as_of_month) as customers,
        sum(revenue) over (partition by as_of_month) as total_revenue,
        coalesce(sum(revenue) over (
            partition by as_of_month
            order by revenue desc, customer_id asc
            rows between unbounded preceding and 1 preceding
        ), 0) as revenue_above
    from {{ ref('customer_value_monthly') }}
    where revenue > 0
        and as_of_month >= {{ kam_from_month() }}
),

final as (
    select
        as_of_month,
        max(customers) as customers,
        -- decimal(18, 2) as the mart it sums (an unconstrained numeric on PostgreSQL otherwise)
        cast(max(total_revenue) as decimal(18, 2)) as revenue,
        sum(case when revenue_rank <= ceiling({{ var('pareto_top_share') }} * customers) then revenue else 0 end)
        / max(total_revenue) as top20_share,
        -- fewest customers whose revenue reaches 80%: those with less than 80% above them
        cast(
            sum(case when revenue_above < {{ var('pareto_revenue_share') }} * total_revenue then 1 else 0 end)
            as bigint
        ) as customers_for_80pct,
        -- Gini = 2 * sum(i * x_i) / (n * sum(x)) - (n + 1) / n, x ascending
        2.0 * sum(ascending_rank * revenue) / (max(customers) * max(total_revenue))
        - (max(customers) + 1.0) / max(customers) as gini
    from ranked
    group by as_of_month
)

select
    as_of_month,
    customers,
    revenue,
    -- shares as double precision on every engine (numeric division stays numeric in PostgreSQL)
    cast(top20_share as {{ kam_double() }}) as top20_share,
    customers_for_80pct,
    cast(customers_for_80pct as {{ kam_double() }}) / customers as customers_for_80pct_share,
    cast(gini as {{ kam_double() }}) as gini
from final

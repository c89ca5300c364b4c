-- One row per customer per month: the four dimension scores (0-100) of the
-- customer value scorecard (客户价值计分卡, DOMAIN §5).
--
-- Each indicator of var('scorecard_indicators') is scored as its percentile
-- rank among the customers WITH REVENUE in the window that month (direction-
-- aware: -1 means fewer is better). Customers without revenue (prospects) are
-- placed on the same scale (share of revenue customers strictly below them),
-- and get customer and service scores only. A dimension score is the
-- weighted mean of its available indicator scores.
-- Incremental by month: ranks are within a month, so only the months recomputed are read.
{%- set indicators = var('scorecard_indicators') %}
{{ kam_monthly_config() }}
with metrics as (
    select * from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ kam_from_month() }}
),

candidates as (
    -- scored: customers with revenue, and prospects with visits in the window
    select
        *,
        revenue > 0 as has_revenue
    from metrics
    where revenue > 0 or visits > 0
),

long as (
    -- narrow rows (the indicator by its number in var('scorecard_indicators')): at 100k
    -- customers x 36 months this is ~36M rows, sorted once
    {%- for item in indicators %}
    select
        customer_id,
        as_of_month,
        {{ loop.index0 }} as indicator_no,
        case when has_revenue then 1 else 0 end as revenue_flag,
        -- rounded to 9 digits so that ties are the same on every engine
        {{ kam_round(item.direction ~ ' * cast(' ~ item.indicator ~ ' as ' ~ kam_double() ~ ')', 9) }} as signed_value
    from candidates
    where {{ item.indicator }} is not null
        {%- if item.dimension in ['financial', 'sales'] %}
        and has_revenue
        {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

value_counts as (
    -- revenue customers per distinct value of an indicator in a month
    select
        as_of_month,
        indicator_no,
        signed_value,
        sum(revenue_flag) as revenue_at_value
    from long
    group by as_of_month, indicator_no, signed_value
),

value_ranks as (
    -- revenue customers strictly below each value, and in all: a running sum over the
    -- distinct values (ROWS frame: linear; ties are one row here)
    select
        as_of_month,
        indicator_no,
        signed_value,
        coalesce(sum(revenue_at_value) over (
            partition by as_of_month, indicator_no
            order by signed_value
            rows between unbounded preceding and 1 preceding
        ), 0) as revenue_below,
        sum(revenue_at_value) over (
            partition by as_of_month, indicator_no
        ) as revenue_population
    from value_counts
),

counted as (
    select
        long.customer_id,
        long.as_of_month,
        long.indicator_no,
        value_ranks.revenue_below,
        value_ranks.revenue_population
    from long
    inner join value_ranks
        on long.as_of_month = value_ranks.as_of_month
        and long.indicator_no = value_ranks.indicator_no
        and long.signed_value = value_ranks.signed_value
),

indicator_scores as (
    select
        customer_id,
        as_of_month,
        indicator_no,
        -- equals percent_rank() among revenue customers; clamped for prospects
        case
            when revenue_population <= 1 then 0.5
            else least(
                    cast(revenue_below as {{ kam_double() }}) / (revenue_population - 1),
                    1.0
                )
        end as indicator_score
    from counted
),

dimension_scores as (
    -- a dimension score: the weighted mean of its indicators' scores
    select
        customer_id,
        as_of_month,
        -- SQLFluff lays out each rendered iteration of the loop, not the template:
        -- noqa: disable=LT02
        {%- for dimension in ['financial', 'sales', 'customer', 'service'] %}
        {%- set weights = [] %}
        {%- for item in indicators %}
            {%- if item.dimension == dimension %}
            {%- do weights.append('when ' ~ loop.index0 ~ ' then cast(' ~ item.weight ~ ' as ' ~ kam_double() ~ ')') %}
            {%- endif %}
        {%- endfor %}
        -- rounded: float sums depend on the order rows are aggregated in, and a
        -- rerun must give identical marts (DESIGN.md §2)
        {%- if weights %}
        {{ kam_round('100 * sum(case indicator_no ' ~ weights | join(' ') ~ ' end * indicator_score)'
                     ~ ' / sum(case indicator_no ' ~ weights | join(' ') ~ ' end)', 6) }}
        {%- else %}
        cast(null as {{ kam_double() }})
        {%- endif %}
            as {{ dimension }}_score{{ "," if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02
    from indicator_scores
    group by customer_id, as_of_month
),

final as (
    select
        candidates.customer_id,
        candidates.as_of_month,
        dimension_scores.financial_score,
        dimension_scores.sales_score,
        dimension_scores.customer_score,
        dimension_scores.service_score
    from candidates
    left join dimension_scores
        on candidates.customer_id = dimension_scores.customer_id
        and candidates.as_of_month = dimension_scores.as_of_month
)

select * from final

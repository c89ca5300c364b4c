-- One row per tier change (DOMAIN §7): from, to, direction, and the scorecard
-- dimension whose score moved most since the previous month (why it changed).
-- Incremental by month: reads one month before kam_from_month() for the lags (a
-- customer's months have no holes, int_customer_months_spined).
{{ kam_monthly_config('change_month') }}
with monthly as (
    select
        customer_id,
        as_of_month,
        tier,
        value_score,
        financial_score,
        sales_score,
        customer_score,
        service_score,
        lag(tier) over (partition by customer_id order by as_of_month) as previous_tier,
        lag(value_score) over (partition by customer_id order by as_of_month) as previous_value_score,
        -- SQLFluff lays out each rendered iteration of the loop, not the template:
        -- noqa: disable=LT02
        {%- for d in ['financial', 'sales', 'customer', 'service'] %}
        {{ d }}_score - lag({{ d }}_score) over (partition by customer_id order by as_of_month)
            as {{ d }}_change{{ "," if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02
    from {{ ref('customer_value_monthly') }}
    where as_of_month >= {{ kam_read_from_month(1) }}
),

ranks as (
    select * from {{ ref('tier_labels') }}
),

changes as (
    select *
    from monthly
    where previous_tier is not null
        and previous_tier <> tier
        and as_of_month >= {{ kam_from_month() }}
),

moves as (
    -- the dimension with the largest absolute score change (ties: scorecard order)
    {%- for d in ['financial', 'sales', 'customer', 'service'] %}
    select
        customer_id,
        as_of_month,
        '{{ d }}' as dimension,
        {{ loop.index }} as dimension_order,
        {{ d }}_change as score_change
    from changes
    where {{ d }}_change is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

top_move as (
    select
        customer_id,
        as_of_month,
        dimension,
        score_change
    from (
        select
            moves.*,
            row_number() over (
                partition by moves.customer_id, moves.as_of_month
                order by abs(moves.score_change) desc, moves.dimension_order
            ) as move_rank
        from moves
    ) as ranked
    where move_rank = 1
),

final as (
    select
        changes.customer_id,
        changes.as_of_month as change_month,
        changes.previous_tier as from_tier,
        changes.tier as to_tier,
        case when to_rank.tier_rank < from_rank.tier_rank then 'promotion' else 'demotion' end as direction,
        changes.previous_value_score,
        changes.value_score,
        top_move.dimension as top_moving_dimension,
        top_move.score_change as top_moving_dimension_change
    from changes
    inner join ranks as from_rank
        on changes.previous_tier = from_rank.tier
    inner join ranks as to_rank
        on changes.tier = to_rank.tier
    left join top_move
        on changes.customer_id = top_move.customer_id
        and changes.as_of_month = top_move.as_of_month
)

select
    customer_id,
    change_month,
    from_tier,
    to_tier,
    direction,
    previous_value_score,
    value_score,
    top_moving_dimension,
    top_moving_dimension_change
from final

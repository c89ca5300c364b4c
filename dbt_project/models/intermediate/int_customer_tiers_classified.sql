-- One row per customer per month: value scores and every DOMAIN §6 class,
-- before labels (the metrics they come from stay in int_customer_metrics_windowed).
-- Each rule is one CTE, in the order the rules depend on each other.
{%- set wts = var('dimension_weights') %}
{%- set tt = var('tier_thresholds') %}
{%- set abc = var('abc_thresholds') %}
{%- set pka = var('pseudo_key_account') %}
{#- incremental by month: the demotion grace reads the N - 1 months before -#}
{%- set read_from = kam_read_from_month(var('demotion_grace_months') - 1) %}
{{ kam_monthly_config() }}
with metrics as (
    select * from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ read_from }}
),

scores as (
    select * from {{ ref('int_customer_scores_ranked') }}
    where as_of_month >= {{ read_from }}
),

tier_ranks as (
    select * from {{ ref('tier_labels') }}
),

overrides as (
    select * from {{ ref('tier_overrides') }}
),

valued as (
    -- §5: current = financial + sales, potential = customer + service, total = all four
    select
        metrics.*,
        scores.financial_score,
        scores.sales_score,
        scores.customer_score,
        scores.service_score,
        {{ kam_round('(' ~ wts.financial ~ ' * scores.financial_score + ' ~ wts.sales ~ ' * scores.sales_score) / '
                     ~ (wts.financial + wts.sales), 6) }} as current_value_score,
        {{ kam_round('(' ~ wts.customer ~ ' * scores.customer_score + ' ~ wts.service ~ ' * scores.service_score) / '
                     ~ (wts.customer + wts.service), 6) }} as potential_value_score,
        {{ kam_round(wts.financial ~ ' * scores.financial_score + ' ~ wts.sales ~ ' * scores.sales_score + '
                     ~ wts.customer ~ ' * scores.customer_score + ' ~ wts.service ~ ' * scores.service_score', 6) }}
            as value_score
    from metrics
    left join scores
        on metrics.customer_id = scores.customer_id
        and metrics.as_of_month = scores.as_of_month
),

abc_ranked as (
    -- §6 ABC: rank by revenue (ties by customer id); prior_share = revenue of all
    -- customers ranked above / total
    select
        customer_id,
        as_of_month,
        coalesce(sum(revenue) over (
            partition by as_of_month
            order by revenue desc, customer_id
            rows between unbounded preceding and 1 preceding
        ), 0) / sum(revenue) over (partition by as_of_month) as prior_share
    from valued
    where revenue > 0
),

margins as (
    -- company-wide margin references per month (§6 profit role, §8 margin erosion)
    select
        as_of_month,
        {{ kam_median('gross_margin') }} as median_gross_margin,
        {{ kam_percentile('gross_margin', var('margin_floor_percentile')) }} as margin_floor
    from valued
    where revenue > 0
    group by as_of_month
),

classified as (
    select
        valued.*,
        abc_ranked.prior_share,
        case
            when abc_ranked.prior_share is null then null
            when abc_ranked.prior_share < {{ abc.A }} then 'A'
            when abc_ranked.prior_share < {{ abc.B }} then 'B'
            when abc_ranked.prior_share < {{ abc.C }} then 'C'
            else 'D'
        end as abc_class,
        margins.median_gross_margin,
        margins.margin_floor
    from valued
    left join abc_ranked
        on valued.customer_id = abc_ranked.customer_id
        and valued.as_of_month = abc_ranked.as_of_month
    left join margins
        on valued.as_of_month = margins.as_of_month
),

pseudo as (
    -- §6 伪大客户: one large order makes the revenue, and it would rank A or B
    select
        classified.*,
        coalesce(
            classified.largest_order_share >= {{ pka.min_largest_order_share }}
            and classified.order_count <= {{ pka.max_order_count }}
            and classified.abc_class in ('A', 'B'),
            false
        ) as is_pseudo_key_account
    from classified
),

raw_tiers as (
    select
        pseudo.*,
        case
            when pseudo.revenue > 0 then
                case
                    when pseudo.value_score >= {{ tt.A }} then 'A'
                    when pseudo.value_score >= {{ tt.B }} then 'B'
                    when pseudo.value_score >= {{ tt.C }} then 'C'
                    else 'D'
                end
            when pseudo.visits > 0 then 'P'
            else 'X'
        end as score_tier
    from pseudo
),

capped as (
    -- a pseudo key account is at most var('pseudo_key_account').max_tier
    select
        raw_tiers.*,
        case
            when raw_tiers.is_pseudo_key_account and score_rank.tier_rank < cap_rank.tier_rank
                then cap_rank.tier
            else raw_tiers.score_tier
        end as raw_tier
    from raw_tiers
    inner join tier_ranks as score_rank
        on raw_tiers.score_tier = score_rank.tier
    cross join (select tier, tier_rank from tier_ranks where tier = '{{ pka.max_tier }}') as cap_rank
),

grace as (
    -- §6 demotion grace: the best raw tier of the last N months. The tier steps below run
    -- on these narrow rows (key, dates, ranks) and join the wide rows once, by key: with
    -- the ~60 columns carried through a window or joined to the tiny tier_labels, DuckDB
    -- built hash tables of every wide row and ran out of 3 GB at 100k customers x 36 months
    select
        capped.customer_id,
        capped.as_of_month,
        capped.as_of_date,
        raw_rank.tier_rank as raw_tier_rank,
        min(raw_rank.tier_rank) over (
            partition by capped.customer_id
            order by capped.as_of_month
            rows between {{ var('demotion_grace_months') - 1 }} preceding and current row
        ) as computed_tier_rank
    from capped
    inner join tier_ranks as raw_rank
        on capped.raw_tier = raw_rank.tier
),

active_overrides as (
    -- §6 manual overrides apply inside their validity only
    select
        grace.customer_id,
        grace.as_of_month,
        overrides.tier,
        overrides.reason
    from grace
    inner join overrides
        on grace.customer_id = overrides.customer_id
        and grace.as_of_date >= overrides.valid_from
        and (overrides.valid_until is null or grace.as_of_date <= overrides.valid_until)
),

tiers as (
    select
        grace.customer_id,
        grace.as_of_month,
        grace.raw_tier_rank,
        grace.computed_tier_rank,
        computed.tier as computed_tier,
        coalesce(active_override.tier, computed.tier) as tier,
        active_override.reason as override_reason
    from grace
    inner join tier_ranks as computed
        on grace.computed_tier_rank = computed.tier_rank
    left join active_overrides as active_override
        on grace.customer_id = active_override.customer_id
        and grace.as_of_month = active_override.as_of_month
),

labelled as (
    select
        tiers.*,
        labels.size_class,
        labels.tier_rank
    from tiers
    inner join tier_ranks as labels
        on tiers.tier = labels.tier
),

overridden as (
    select
        capped.*,
        labelled.raw_tier_rank,
        labelled.computed_tier_rank,
        labelled.computed_tier,
        labelled.tier,
        labelled.override_reason,
        labelled.size_class,
        labelled.tier_rank
    from capped
    inner join labelled
        on capped.customer_id = labelled.customer_id
        and capped.as_of_month = labelled.as_of_month
    where capped.as_of_month >= {{ kam_from_month() }}
),

final as (
    -- the scores and classes only: the metrics stay in int_customer_metrics_windowed,
    -- and customer_value_monthly joins them once (a second wide copy of every
    -- metric cost more to write and read than everything computed here)
    select
        overridden.customer_id,
        overridden.as_of_month,
        overridden.financial_score,
        overridden.sales_score,
        overridden.customer_score,
        overridden.service_score,
        overridden.current_value_score,
        overridden.potential_value_score,
        overridden.value_score,
        overridden.prior_share,
        overridden.abc_class,
        overridden.median_gross_margin,
        overridden.margin_floor,
        overridden.is_pseudo_key_account,
        overridden.score_tier,
        overridden.raw_tier,
        overridden.raw_tier_rank,
        overridden.computed_tier_rank,
        overridden.computed_tier,
        overridden.tier,
        overridden.override_reason,
        overridden.size_class,
        overridden.tier_rank,
        case
            when overridden.size_class <> 'key' then null
            when overridden.gross_margin >= overridden.median_gross_margin then 'profit'
            else 'volume'
        end as profit_role,
        case
            when overridden.size_class <> 'key' then null
            when overridden.is_strategic_partner or overridden.relationship_level = 'alliance' then 'strategic'
            when overridden.service_solution_share >= {{ var('extrinsic_min_service_share') }} then 'extrinsic'
            else 'intrinsic'
        end as value_type,
        case
            when overridden.current_value_score >= {{ var('quadrant_cut') }}
                and overridden.potential_value_score >= {{ var('quadrant_cut') }} then 'star'
            when overridden.current_value_score >= {{ var('quadrant_cut') }} then 'cash_cow'
            when overridden.potential_value_score >= {{ var('quadrant_cut') }} then 'develop'
            when overridden.potential_value_score is not null then 'maintain'
        end as value_quadrant
    from overridden
)

select * from final

-- One row per customer per month: the tier (DOMAIN §6) and the steps to it. The
-- score tier cuts value_score at var('tier_thresholds') (P: no revenue but visits,
-- X: neither); a pseudo key account is capped at var('pseudo_key_account').max_tier
-- (raw tier); the computed tier is the best raw tier of the last
-- var('demotion_grace_months') months; a manual override (tier_overrides seed) wins
-- inside its validity. size_class and tier_rank come from the tier_labels seed.
{%- set tt = var('tier_thresholds') %}
{%- set pka = var('pseudo_key_account') %}
{#- incremental by month: the demotion grace reads the N - 1 months before -#}
{%- set read_from = kam_read_from_month(var('demotion_grace_months') - 1) %}
{{ kam_monthly_config() }}
with metrics as (
    select
        customer_id,
        as_of_month,
        as_of_date,
        revenue,
        visits
    from {{ ref('int_customer_metrics_windowed') }}
    where as_of_month >= {{ read_from }}
),

values_scored as (
    select
        customer_id,
        as_of_month,
        value_score
    from {{ ref('int_customer_values_scored') }}
    where as_of_month >= {{ read_from }}
),

pseudo as (
    select * from {{ ref('int_customer_pseudo_key_accounts') }}
    where as_of_month >= {{ read_from }}
),

tier_ranks as (
    select * from {{ ref('tier_labels') }}
),

cap_rank as (
    select
        tier,
        tier_rank
    from tier_ranks
    where tier = '{{ pka.max_tier }}'
),

overrides as (
    select * from {{ ref('tier_overrides') }}
),

score_tiers as (
    select
        metrics.customer_id,
        metrics.as_of_month,
        metrics.as_of_date,
        pseudo.is_pseudo_key_account,
        case
            when metrics.revenue > 0
                then
                    case
                        when values_scored.value_score >= {{ tt.A }} then 'A'
                        when values_scored.value_score >= {{ tt.B }} then 'B'
                        when values_scored.value_score >= {{ tt.C }} then 'C'
                        else 'D'
                    end
            when metrics.visits > 0 then 'P'
            else 'X'
        end as score_tier
    from metrics
    left join values_scored
        on metrics.customer_id = values_scored.customer_id
        and metrics.as_of_month = values_scored.as_of_month
    left join pseudo
        on metrics.customer_id = pseudo.customer_id
        and metrics.as_of_month = pseudo.as_of_month
),

capped as (
    select
        score_tiers.*,
        case
            when score_tiers.is_pseudo_key_account and score_rank.tier_rank < cap_rank.tier_rank
                then cap_rank.tier
            else score_tiers.score_tier
        end as raw_tier
    from score_tiers
    inner join tier_ranks as score_rank
        on score_tiers.score_tier = score_rank.tier
    cross join cap_rank
),

grace as (
    -- the best raw tier of the last N months (ranks: lower is better)
    select
        capped.customer_id,
        capped.as_of_month,
        capped.as_of_date,
        capped.score_tier,
        capped.raw_tier,
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
    -- manual overrides apply inside their validity only
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

final as (
    select
        grace.customer_id,
        grace.as_of_month,
        grace.score_tier,
        grace.raw_tier,
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
    where grace.as_of_month >= {{ kam_from_month() }}
)

select
    final.customer_id,
    final.as_of_month,
    final.score_tier,
    final.raw_tier,
    final.raw_tier_rank,
    final.computed_tier_rank,
    final.computed_tier,
    final.tier,
    final.override_reason,
    labels.size_class,
    labels.tier_rank
from final
inner join tier_ranks as labels
    on final.tier = labels.tier

-- One row per sales visit (latest version) up to the run date.
-- Incremental: a daily run rewrites only the keys with new versions (kam_changed_keys,
-- macros/run_context.sql); `kam run --full-refresh` rebuilds it and gives the same rows.
{%- set in_range = "visit_date <= " ~ kam_run_date() %}
{{ kam_fact_config('visit_id', in_range) }}
with visits as (
    {{ kam_latest_changed(ref('stg_crm__visits'), ['visit_id'], 'visit_date', in_range) }}
),

stages as (
    select * from {{ ref('sales_stages') }}
),

levels as (
    select * from {{ ref('relationship_levels') }}
),

final as (
    select
        visits.visit_id,
        visits.customer_id,
        visits.visit_date,
        {{ month_start('visits.visit_date') }} as visit_month,
        visits.visit_type,
        visits.sales_rep,
        visits.buyer_role,
        visits.sales_stage,
        cast(stages.stage_rank as integer) as sales_stage_rank,  -- a seed's integer: bigint on Spark
        visits.relationship_level,
        cast(levels.relationship_score as integer) as relationship_score,
        visits.updated_at,
        visits.source_batch_id
    from visits
    left join stages
        on visits.sales_stage = stages.sales_stage
    left join levels
        on visits.relationship_level = levels.relationship_level
)

select
    visit_id,
    customer_id,
    visit_date,
    visit_month,
    visit_type,
    sales_rep,
    buyer_role,
    sales_stage,
    sales_stage_rank,
    relationship_level,
    relationship_score,
    updated_at,
    source_batch_id
from final

{#- Config of an incremental fact: delete+insert on the key (DuckDB and PostgreSQL);
    the post-hook drops a key whose latest version is dated after the run date. Spark on
    plain Parquet has neither delete+insert nor DELETE: there a fact is rebuilt whole
    (a table), the honest choice for a key-level rewrite (docs/spark.md). -#}
{% macro kam_fact_config(unique_key, date_filter) -%}
    {{ return(adapter.dispatch('kam_fact_config', 'kam')(unique_key, date_filter)) }}
{%- endmacro %}

{% macro default__kam_fact_config(unique_key, date_filter) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=unique_key,
        on_schema_change='fail',
        post_hook=["delete from {{ this }} where (" ~ date_filter ~ ") is not true"],
    ) }}
{%- endmacro %}

{% macro spark__kam_fact_config(unique_key, date_filter) -%}
    {{ config(materialized='table', file_format='parquet') }}
{%- endmacro %}

{#- Incremental monthly models (issue "incremental runs"): a daily run recomputes only
    the months from rebuild_from_month (run context or var) on — kam sets it to the earliest month
    the new batches touch, or the month of the previous run date if earlier — and
    keeps the older months. Without the var, or on a full build, every month. -#}
{% macro kam_from_month() -%}
    {%- set value = var('rebuild_from_month', none) or (kam_context('rebuild_from_month') if is_incremental()) -%}
    {%- if is_incremental() and value -%}
    cast('{{ value }}' as date)
    {%- else -%}
    cast('1900-01-01' as date)
    {%- endif -%}
{%- endmacro %}

{#- The first month a model reads to recompute from kam_from_month(): ``lookback``
    months earlier, for trailing windows and lags. -#}
{% macro kam_read_from_month(lookback) -%}
    {{ kam_add_months(kam_from_month(), -lookback) }}
{%- endmacro %}

{#- Config of a monthly model: the months being recomputed are deleted, then the new
    rows appended (delete by month, not by key: a month can lose rows). Its data tests
    check the same months (macros/test_scope.sql). Spark: the table is partitioned by
    month and the recomputed months' partitions are overwritten (insert_overwrite,
    dynamic partitions): the same months replaced, without a DELETE. -#}
{% macro kam_monthly_config(month_column='as_of_month') -%}
    {{ return(adapter.dispatch('kam_monthly_config', 'kam')(month_column)) }}
{%- endmacro %}

{% macro default__kam_monthly_config(month_column) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        meta={'kam_month_column': month_column},
        pre_hook=["{% if is_incremental() %}delete from {{ this }} where " ~ month_column
                  ~ " >= {{ kam_from_month() }}{% endif %}"],
    ) }}
{%- endmacro %}

{% macro spark__kam_monthly_config(month_column) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        partition_by=[month_column],
        file_format='parquet',
        on_schema_change='fail',
        meta={'kam_month_column': month_column},
    ) }}
{%- endmacro %}

{#- Config of the SCD2 tier history (customer_tier_history): a daily run keeps the intervals
    that closed before the recomputed months (their months did not change) and derives the
    rest again; the pre-hook deletes the others (open, or closing at or after kam_from_month()).
    A full build: every interval. Spark on plain Parquet has no DELETE: a table rebuilt whole. -#}
{% macro kam_history_config() -%}
    {{ return(adapter.dispatch('kam_history_config', 'kam')()) }}
{%- endmacro %}

{% macro default__kam_history_config() -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=["{% if is_incremental() %}delete from {{ this }} where valid_to is null"
                  " or valid_to >= {{ kam_from_month() }}{% endif %}"],
    ) }}
{%- endmacro %}

{% macro spark__kam_history_config() -%}
    {{ config(materialized='table', file_format='parquet') }}
{%- endmacro %}

{#- The run date as a SQL date literal: var('run_date') from Airflow, else today. -#}
{% macro kam_run_date() -%}
    {%- set value = var('run_date', none) -%}
    {%- if value is none or value == '' -%}
        {%- set value = modules.datetime.date.today().isoformat() -%}
    {%- endif -%}
    cast('{{ value }}' as date)
{%- endmacro %}

{#- First day of the month of a date expression, as a DATE on every adapter. -#}
{% macro month_start(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}

{#- Keep the latest version of each business key (DESIGN.md §2: latest updated_at
    wins; ties broken by load order). Portable: no QUALIFY. ``where`` limits the
    keys ranked (an incremental fact ranks only the keys it rewrites). -#}
{% macro latest_version(relation, key_columns, batch_column='_batch_id', row_column='_row_number', where=none) -%}
    select *
    from (
        select
            src.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by updated_at desc, {{ batch_column }} desc, {{ row_column }} desc
            ) as version_rank
        from {{ relation }} as src
        {%- if where %}
        where {{ where }}
        {%- endif %}
    ) as ranked
    where version_rank = 1
{%- endmacro %}

{#- An incremental fact (DESIGN.md §2, issue "incremental runs") rewrites only the
    keys with a version loaded since its last build, plus the keys whose date has
    come within the run date since then (facts dated after the run date are left
    out, and a later run takes them in). Every version of such a key is ranked
    again, so a late correction with an older updated_at never wins. Full build:
    every key. -#}
{% macro kam_changed_keys(relation, key_columns, date_column) -%}
    {%- if is_incremental() -%}
    ({{ key_columns | join(', ') }}) in (
        select {{ key_columns | join(', ') }}
        from {{ relation }}
        where source_batch_id > (select coalesce(max(source_batch_id), 0) from {{ this }})
            or {{ date_column }} > (select max({{ date_column }}) from {{ this }})
    )
    {%- endif -%}
{%- endmacro %}

{#- The rows an incremental fact writes: the latest version of each changed key
    (every key on a full build, then only those dated up to the run date). -#}
{% macro kam_latest_changed(relation, key_columns, date_column, in_range) -%}
    select * from (
        {{ latest_version(relation, key_columns, 'source_batch_id', 'source_row_number',
                          where=kam_changed_keys(relation, key_columns, date_column)) }}
    ) as latest
    {%- if not is_incremental() %}
    where {{ in_range }}
    {%- endif %}
{%- endmacro %}

{#- Config of an incremental fact: delete+insert on the key (DuckDB and PostgreSQL);
    the post-hook drops a key whose latest version is dated after the run date. -#}
{% macro kam_fact_config(unique_key, date_filter) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=unique_key,
        on_schema_change='fail',
        post_hook=["delete from {{ this }} where (" ~ date_filter ~ ") is not true"],
    ) }}
{%- endmacro %}

{#- Incremental monthly models (issue "incremental runs"): a daily run recomputes only
    the months from var('rebuild_from_month') on — kam sets it to the earliest month
    the new batches touch, or the month of the previous run date if earlier — and
    keeps the older months. Without the var, or on a full build, every month. -#}
{% macro kam_from_month() -%}
    {%- set value = var('rebuild_from_month', none) -%}
    {%- if is_incremental() and value -%}
    cast('{{ value }}' as date)
    {%- else -%}
    cast('1900-01-01' as date)
    {%- endif -%}
{%- endmacro %}

{#- The first month a model reads to recompute from kam_from_month(): ``lookback``
    months earlier, for trailing windows and lags. -#}
{% macro kam_read_from_month(lookback) -%}
    cast({{ dbt.dateadd('month', -lookback, kam_from_month()) }} as date)
{%- endmacro %}

{#- Config of a monthly model: the months being recomputed are deleted, then the new
    rows appended (delete by month, not by key: a month can lose rows). -#}
{% macro kam_monthly_config(month_column='as_of_month') -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=["{% if is_incremental() %}delete from {{ this }} where " ~ month_column
                  ~ " >= {{ kam_from_month() }}{% endif %}"],
    ) }}
{%- endmacro %}

{#- The run context — run date, first month to recompute — is written by kam into
    ops.kam_run_context just before each dbt build, not passed with --vars: dbt
    re-parses the whole project whenever --vars change (about 10 s a run), while a
    table read at execution keeps partial parsing. Read with run_query when a model
    is compiled, so the SQL still holds literals. A --vars value wins (ad-hoc runs). -#}
{% macro kam_context(column) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set relation = adapter.get_relation(database=target.database, schema='ops', identifier='kam_run_context') -%}
    {%- if relation is none -%}{{ return(none) }}{%- endif -%}
    {%- set table = run_query("select " ~ column ~ " from " ~ relation) -%}
    {%- if table.rows | length == 0 or table.rows[0][0] is none -%}{{ return(none) }}{%- endif -%}
    {{ return((table.rows[0][0] | string)[:10]) }}
{%- endmacro %}

{#- The run date as a SQL date literal: var('run_date'), else the run context, else today. -#}
{% macro kam_run_date() -%}
    {%- set value = var('run_date', none) or kam_context('run_date') -%}
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
    cast({{ dbt.dateadd('month', -lookback, kam_from_month()) }} as date)
{%- endmacro %}

{#- Config of a monthly model: the months being recomputed are deleted, then the new
    rows appended (delete by month, not by key: a month can lose rows). Its data tests
    check the same months (macros/test_scope.sql). -#}
{% macro kam_monthly_config(month_column='as_of_month') -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        meta={'kam_month_column': month_column},
        pre_hook=["{% if is_incremental() %}delete from {{ this }} where " ~ month_column
                  ~ " >= {{ kam_from_month() }}{% endif %}"],
    ) }}
{%- endmacro %}

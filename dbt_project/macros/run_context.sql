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

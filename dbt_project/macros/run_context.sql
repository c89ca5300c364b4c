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
    wins; ties broken by load order). Portable: no QUALIFY. -#}
{% macro latest_version(relation, key_columns) -%}
    select *
    from (
        select
            src.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by updated_at desc, _batch_id desc, _row_number desc
            ) as version_rank
        from {{ relation }} as src
    ) as ranked
    where version_rank = 1
{%- endmacro %}

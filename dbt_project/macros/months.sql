{#- First day of the month of a date expression, as a DATE on every adapter. -#}
{% macro month_start(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}

{#- Date arithmetic as a DATE on every adapter. dbt's cross-database dateadd and last_day
    guard their argument on Spark by repeating it four times, so a nested use grows the SQL
    geometrically (int_customer_receivables_as_of compiled to 108 kB there, and Catalyst
    took 17 s to plan it); Spark's own add_months, date_add and last_day take it once. -#}

{#- A date expression moved by whole months (add_months: the 31st becomes the month's last day). -#}
{% macro kam_add_months(expression, months) -%}
    {{ return(adapter.dispatch('kam_add_months', 'kam')(expression, months)) }}
{%- endmacro %}

{% macro default__kam_add_months(expression, months) -%}
    cast({{ dbt.dateadd('month', months, expression) }} as date)
{%- endmacro %}

{% macro spark__kam_add_months(expression, months) -%}
    add_months({{ expression }}, cast({{ months }} as int))
{%- endmacro %}

{#- A date expression moved by whole days. -#}
{% macro kam_add_days(expression, days) -%}
    {{ return(adapter.dispatch('kam_add_days', 'kam')(expression, days)) }}
{%- endmacro %}

{% macro default__kam_add_days(expression, days) -%}
    cast({{ dbt.dateadd('day', days, expression) }} as date)
{%- endmacro %}

{% macro spark__kam_add_days(expression, days) -%}
    date_add({{ expression }}, cast({{ days }} as int))
{%- endmacro %}

{#- The last day of the month of a date expression. -#}
{% macro kam_month_end(expression) -%}
    {{ return(adapter.dispatch('kam_month_end', 'kam')(expression)) }}
{%- endmacro %}

{% macro default__kam_month_end(expression) -%}
    cast({{ dbt.last_day(month_start(expression), 'month') }} as date)
{%- endmacro %}

{% macro spark__kam_month_end(expression) -%}
    last_day({{ expression }})
{%- endmacro %}

{#- The first month whose as-of date (its last day; the run date in the run's month)
    is on or after a date (strict=false: date <= as-of date), or after it (strict=true:
    date < as-of date); null if no month up to the run date's is. Because as-of dates
    only grow, the condition then holds for every later month too. -#}
{% macro kam_first_as_of_month(date, run_date, strict) -%}
    case
        when {{ date }} {{ '>=' if strict else '>' }} {{ run_date }} then null
        {%- if strict %}
        when {{ date }} = {{ kam_month_end(date) }}
            then {{ kam_add_months(month_start(date), 1) }}
        {%- endif %}
        else {{ month_start(date) }}
    end
{%- endmacro %}

{#- Every first-of-month from start_month to end_month (both month starts, inclusive), as
    rows of one column as_of_month: a recursive CTE where there is one, Spark's sequence. -#}
{% macro kam_month_series(start_month, end_month) -%}
    {{ return(adapter.dispatch('kam_month_series', 'kam')(start_month, end_month)) }}
{%- endmacro %}

{% macro default__kam_month_series(start_month, end_month) -%}
    with recursive series as (
        select cast({{ start_month }} as date) as as_of_month

        union all

        select {{ kam_add_months('as_of_month', 1) }} as as_of_month
        from series
        where as_of_month < {{ end_month }}
    )

    select as_of_month from series
{%- endmacro %}

{#- Spark has no recursive CTE: explode a sequence of months. -#}
{% macro spark__kam_month_series(start_month, end_month) -%}
    select explode(sequence(cast({{ start_month }} as date), {{ end_month }}, interval 1 month)) as as_of_month
{%- endmacro %}

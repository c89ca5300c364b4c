{#- First day of the month of a date expression, as a DATE on every adapter. -#}
{% macro month_start(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}

{#- A date expression moved by whole months, as a DATE on every adapter. -#}
{% macro kam_add_months(expression, months) -%}
    cast({{ dbt.dateadd('month', months, expression) }} as date)
{%- endmacro %}

{#- The first month whose as-of date (its last day; the run date in the run's month)
    is on or after a date (strict=false: date <= as-of date), or after it (strict=true:
    date < as-of date); null if no month up to the run date's is. Because as-of dates
    only grow, the condition then holds for every later month too. -#}
{% macro kam_first_as_of_month(date, run_date, strict) -%}
    case
        when {{ date }} {{ '>=' if strict else '>' }} {{ run_date }} then null
        {%- if strict %}
        when {{ date }} = {{ dbt.last_day(month_start(date), 'month') }}
            then {{ kam_add_months(month_start(date), 1) }}
        {%- endif %}
        else {{ month_start(date) }}
    end
{%- endmacro %}

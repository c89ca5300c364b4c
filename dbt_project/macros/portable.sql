{#- Adapter differences live here, never in models (DESIGN.md §5). -#}

{#- Median of an expression (aggregate). -#}
{% macro kam_median(expression) -%}
    {{ return(adapter.dispatch('kam_median', 'kam')(expression)) }}
{%- endmacro %}

{% macro default__kam_median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__kam_median(expression) -%}
    median({{ expression }})
{%- endmacro %}

{#- A percentile (0-1) of an expression (aggregate). -#}
{% macro kam_percentile(expression, fraction) -%}
    {{ return(adapter.dispatch('kam_percentile', 'kam')(expression, fraction)) }}
{%- endmacro %}

{% macro default__kam_percentile(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__kam_percentile(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{#- End of an as-of date as a timestamp (exclusive bound). -#}
{% macro end_of_day(date_expression) -%}
    cast({{ dbt.dateadd('day', 1, date_expression) }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- A number as text for alert reasons: rounded, no exponent. -#}
{% macro num_text(expression, digits=0) -%}
    cast(round(cast({{ expression }} as numeric), {{ digits }}) as {{ dbt.type_string() }})
{%- endmacro %}

{#- A ratio as a percentage text, e.g. -38.2%. -#}
{% macro pct_text(expression) -%}
    cast(round(cast(100 * ({{ expression }}) as numeric), 1) as {{ dbt.type_string() }}) || '%'
{%- endmacro %}

{#- round(x, n) on a floating-point value, as a double (PostgreSQL only rounds numeric). -#}
{% macro kam_round(expression, digits) -%}
    {{ return(adapter.dispatch('kam_round', 'kam')(expression, digits)) }}
{%- endmacro %}

{% macro default__kam_round(expression, digits) -%}
    cast(round(cast({{ expression }} as numeric), {{ digits }}) as double precision)
{%- endmacro %}

{% macro duckdb__kam_round(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

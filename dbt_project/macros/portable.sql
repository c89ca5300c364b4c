{#- Adapter differences live here, never in models (DESIGN.md §5). -#}

{#- Whole days or months from one date to another (dbt.datediff) as a bigint on every adapter:
    PostgreSQL's day difference is an integer and its month difference a float, Spark's an int,
    and the published marts' contracts say bigint. -#}
{% macro kam_datediff(start_date, end_date, datepart) -%}
    cast({{ dbt.datediff(start_date, end_date, datepart) }} as bigint)
{%- endmacro %}

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

{#- The exact numeric type text and rounding go through: numeric (DuckDB's is decimal(18,3));
    Spark's bare numeric is decimal(10,0) and would drop the cents, so decimal(18,3) there too. -#}
{% macro kam_numeric() -%}
    {{ return(adapter.dispatch('kam_numeric', 'kam')()) }}
{%- endmacro %}

{% macro default__kam_numeric() -%}numeric{%- endmacro %}

{% macro spark__kam_numeric() -%}decimal(18, 3){%- endmacro %}

{#- A number as text for alert reasons: rounded, no exponent. -#}
{% macro num_text(expression, digits=0) -%}
    cast(round(cast({{ expression }} as {{ kam_numeric() }}), {{ digits }}) as {{ dbt.type_string() }})
{%- endmacro %}

{#- A ratio as a percentage text, e.g. -38.2%. -#}
{% macro pct_text(expression) -%}
    cast(round(cast(100 * ({{ expression }}) as {{ kam_numeric() }}), 1) as {{ dbt.type_string() }}) || '%'
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

{% macro spark__kam_round(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

{#- The ordered text list of an expression's non-null values (aggregate), sorted by
    the values themselves; null when there are none. -#}
{% macro kam_listagg_sorted(expression, delimiter_text) -%}
    {{ return(adapter.dispatch('kam_listagg_sorted', 'kam')(expression, delimiter_text)) }}
{%- endmacro %}

{% macro default__kam_listagg_sorted(expression, delimiter_text) -%}
    {{ dbt.listagg(expression, delimiter_text, "order by " ~ expression) }}
{%- endmacro %}

{#- Spark's listagg (collect_list) keeps no order: sort the collected array. -#}
{% macro spark__kam_listagg_sorted(expression, delimiter_text) -%}
    nullif(array_join(array_sort(collect_list({{ expression }})), {{ delimiter_text }}), '')
{%- endmacro %}

{#- The 8-byte floating-point type: double precision (DuckDB, PostgreSQL), double (Spark,
    which does not parse "double precision"). dbt.type_float() is a 4-byte float on DuckDB. -#}
{% macro kam_double() -%}
    {{ return(adapter.dispatch('kam_double', 'kam')()) }}
{%- endmacro %}

{% macro default__kam_double() -%}double precision{%- endmacro %}

{% macro spark__kam_double() -%}double{%- endmacro %}

{#- Minutes from one timestamp to another, as DuckDB counts them: minute boundaries crossed
    (dbt's datediff on Spark rounds the elapsed seconds up instead). -#}
{% macro kam_minutes_between(start_timestamp, end_timestamp) -%}
    {{ return(adapter.dispatch('kam_minutes_between', 'kam')(start_timestamp, end_timestamp)) }}
{%- endmacro %}

{% macro default__kam_minutes_between(start_timestamp, end_timestamp) -%}
    {{ dbt.datediff(start_timestamp, end_timestamp, 'minute') }}
{%- endmacro %}

{% macro spark__kam_minutes_between(start_timestamp, end_timestamp) -%}
    (floor(unix_timestamp({{ end_timestamp }}) / 60) - floor(unix_timestamp({{ start_timestamp }}) / 60))
{%- endmacro %}

{#- Stops the run before any model is built when the business rules cannot work
    (DOMAIN §5: weights must sum to 1; tier and ABC thresholds must be ordered). -#}
{% macro validate_kam_config() %}
    {%- set weights = var('dimension_weights') -%}
    {%- set total = weights.values() | sum -%}
    {%- if (total - 1.0) | abs > 0.000001 -%}
        {{ exceptions.raise_compiler_error(
            "kam config: dimension_weights must sum to 1, got " ~ total ~ " from " ~ weights) }}
    {%- endif -%}
    {%- for dimension in ['financial', 'sales', 'customer', 'service'] -%}
        {%- if dimension not in weights -%}
            {{ exceptions.raise_compiler_error("kam config: dimension_weights lacks '" ~ dimension ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for item in var('scorecard_indicators') -%}
        {%- if item.dimension not in weights or item.direction not in [1, -1] or item.weight <= 0 -%}
            {{ exceptions.raise_compiler_error(
                "kam config: bad scorecard indicator " ~ item ~ " (dimension must be one of "
                ~ weights.keys() | list ~ ", direction 1 or -1, weight > 0)") }}
        {%- endif -%}
    {%- endfor -%}
    {%- set t = var('tier_thresholds') -%}
    {%- if not (100 >= t.A > t.B > t.C >= 0) -%}
        {{ exceptions.raise_compiler_error(
            "kam config: tier_thresholds must satisfy 100 >= A > B > C >= 0, got " ~ t) }}
    {%- endif -%}
    {%- set a = var('abc_thresholds') -%}
    {%- if not (0 < a.A < a.B < a.C <= 1) -%}
        {{ exceptions.raise_compiler_error(
            "kam config: abc_thresholds must satisfy 0 < A < B < C <= 1, got " ~ a) }}
    {%- endif -%}
    {%- if var('demotion_grace_months') < 1 or var('window_months') < 1 -%}
        {{ exceptions.raise_compiler_error(
            "kam config: window_months and demotion_grace_months must be >= 1") }}
    {%- endif -%}
    select 1
{% endmacro %}

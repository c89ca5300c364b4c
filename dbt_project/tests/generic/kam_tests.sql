{#- Small generic tests (dbt_utils is not reachable offline, so we keep our own). -#}

{% test unique_combination(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as rows_per_key
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{% test value_between(model, column_name, min_value, max_value) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

{#- every value of column_name has exactly one row where condition holds -#}
{% test one_row_per(model, column_name, condition) %}
    select {{ column_name }}, sum(case when {{ condition }} then 1 else 0 end) as rows_found
    from {{ model }}
    group by {{ column_name }}
    having sum(case when {{ condition }} then 1 else 0 end) <> 1
{% endtest %}

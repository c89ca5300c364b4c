{#- Which rows a generic data test reads (dbt's `where` mechanism: the tested model is
    replaced by a subquery). A daily incremental build rewrites only the months from
    rebuild_from_month on in the monthly models (kam_monthly_config); their tests then
    check those months only — the older months are the rows the earlier builds tested
    and kept. Facts, staging views, the other models, singular tests and every test of
    a full build (first run, config change, `kam run --full-refresh`) read every row.
    A test's own `where` config still applies. Overrides dbt's default (dispatch looks
    in the root project first). -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- set scope = kam_test_scope() -%}
    {%- if scope -%}{%- do conditions.append(scope) -%}{%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The months condition for the test being compiled, or none (every row). -#}
{% macro kam_test_scope() -%}
    {%- if not execute or flags.FULL_REFRESH or model.resource_type != 'test' -%}{{ return(none) }}{%- endif -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if tested is none or tested.config.materialized != 'incremental' -%}{{ return(none) }}{%- endif -%}
    {%- set month_column = tested.config.meta.get('kam_month_column') -%}
    {%- set from_month = var('rebuild_from_month', none) or kam_context('rebuild_from_month') -%}
    {%- if not month_column or not from_month -%}{{ return(none) }}{%- endif -%}
    {{ return(month_column ~ " >= cast('" ~ from_month ~ "' as date)") }}
{%- endmacro %}

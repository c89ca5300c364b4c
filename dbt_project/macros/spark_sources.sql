{#- Target spark: the raw sources are the Parquet folders of the raw lake (kam.spark.lake,
    KAM_LAKE_DIR), one view per source declared with schema raw; the run context is the
    lake's ops/kam_run_context file. Views re-list the folder at every query, so a batch
    renamed into the lake is read by the next build. Other adapters: nothing to do. -#}
{% macro kam_prepare_sources() -%}
    {{ return(adapter.dispatch('kam_prepare_sources', 'kam')()) }}
{%- endmacro %}

{% macro default__kam_prepare_sources() -%}
{%- endmacro %}

{% macro spark__kam_prepare_sources() -%}
    {%- if execute -%}
        {%- set lake = env_var('KAM_LAKE_DIR') -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- do run_query('create database if not exists ops') -%}
        {%- for node in graph.sources.values() if node.schema == 'raw' -%}
            {%- do run_query('create or replace view raw.' ~ node.identifier ~ ' as select * from parquet.`'
                             ~ lake ~ '/raw/' ~ node.identifier ~ '`') -%}
        {%- endfor -%}
        {%- do run_query("create table if not exists ops.kam_run_context (run_date date, rebuild_from_month date)"
                         ~ " using parquet location '" ~ lake ~ "/ops/kam_run_context'") -%}
    {%- endif -%}
{%- endmacro %}

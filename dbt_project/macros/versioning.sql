{#- Keep the latest version of each business key (DESIGN.md §2: latest updated_at
    wins; ties broken by load order). Portable: no QUALIFY. ``where`` limits the
    keys ranked (an incremental fact ranks only the keys it rewrites). -#}
{% macro latest_version(relation, key_columns, batch_column='_batch_id', row_column='_row_number', where=none) -%}
    select *
    from (
        select
            src.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by updated_at desc, {{ batch_column }} desc, {{ row_column }} desc
            ) as version_rank
        from {{ relation }} as src
        {%- if where %}
        where {{ where }}
        {%- endif %}
    ) as ranked
    where version_rank = 1
{%- endmacro %}

{#- An incremental fact (DESIGN.md §2, issue "incremental runs") rewrites only the
    keys with a version loaded since its last build, plus the keys whose date has
    come within the run date since then (facts dated after the run date are left
    out, and a later run takes them in). Every version of such a key is ranked
    again, so a late correction with an older updated_at never wins. Full build:
    every key. -#}
{% macro kam_changed_keys(relation, key_columns, date_column) -%}
    {%- if is_incremental() -%}
    ({{ key_columns | join(', ') }}) in (
        select {{ key_columns | join(', ') }}
        from {{ relation }}
        where source_batch_id > (select coalesce(max(source_batch_id), 0) from {{ this }})
            or {{ date_column }} > (select max({{ date_column }}) from {{ this }})
    )
    {%- endif -%}
{%- endmacro %}

{#- The rows an incremental fact writes: the latest version of each changed key
    (every key on a full build, then only those dated up to the run date). -#}
{% macro kam_latest_changed(relation, key_columns, date_column, in_range) -%}
    select * from (
        {{ latest_version(relation, key_columns, 'source_batch_id', 'source_row_number',
                          where=kam_changed_keys(relation, key_columns, date_column)) }}
    ) as latest
    {%- if not is_incremental() %}
    where {{ in_range }}
    {%- endif %}
{%- endmacro %}

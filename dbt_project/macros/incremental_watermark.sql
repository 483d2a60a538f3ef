{#
    The latest value of a timestamp column in the model's own table, as a SQL literal, read when
    the model runs (`'-infinity'` while the table is empty, and at parse time).

    An incremental model that reads "what arrived after the latest arrival already taken in" puts
    this literal in its filter instead of a subquery on itself: with a literal, the planner knows
    from the column's statistics that a day's rows are few and reads them through the index;
    with a subquery it plans for a third of the table and scans all of it.
#}
{% macro incremental_watermark(column) -%}
    {%- set value = none -%}
    {%- if execute and is_incremental() -%}
        {%- set result = run_query("select max(" ~ column ~ ")::text from " ~ this) -%}
        {%- set value = result.columns[0].values()[0] -%}
    {%- endif -%}
    {%- if value -%}
        '{{ value }}'::timestamptz
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}

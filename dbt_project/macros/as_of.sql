{#
    The as-of date of a run: the `as_of` var as a date literal, or NULL when unset (the
    models then use today in each agreement's time zone). One place reads the var.
#}
{% macro as_of_var() -%}
    {%- set value = var('as_of', none) -%}
    {%- if value is none or value | string | trim in ('', 'None', 'null') -%}
        null::date
    {%- else -%}
        '{{ value | string | trim }}'::date
    {%- endif -%}
{%- endmacro %}

{# A date var (e.g. history_start) as a literal, or NULL. #}
{% macro date_var(name) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none or value | string | trim in ('', 'None', 'null') -%}
        null::date
    {%- else -%}
        '{{ value | string | trim }}'::date
    {%- endif -%}
{%- endmacro %}

{#
    The instant a date ends in a time zone: `end_of_day('d', 'tz')` is the first instant of
    the next day there. "Known as of D" means arrived at or before this instant, and
    "due on D" means by this instant (evidence exactly at it counts as on time).
#}
{% macro end_of_day(date_expr, tz_expr) -%}
    ((({{ date_expr }}) + 1)::timestamp at time zone ({{ tz_expr }}))
{%- endmacro %}

{# The local calendar date of an instant in a time zone. #}
{% macro local_date(ts_expr, tz_expr) -%}
    ((({{ ts_expr }}) at time zone ({{ tz_expr }}))::date)
{%- endmacro %}

{#
    The end of the run's as-of date for feed-level facts (orders), in the feeds' time zone:
    what had arrived by then is known. Without an as_of var: the end of today there.
#}
{% macro feed_as_of_end() -%}
    {%- set tz = "'" ~ var('feed_timezone') ~ "'" -%}
    {{ end_of_day('coalesce(' ~ as_of_var() ~ ', (now() at time zone ' ~ tz ~ ')::date)', tz) }}
{%- endmacro %}

{#
    The run's dates: the vars `as_of`, `as_of_from` and `history_start`, each as a date literal,
    or NULL when unset (the models then use today in each agreement's time zone, or the term
    start). One place reads them.

    A var given with --vars (the dbt command line, Cosmos) comes first. `partnerops` itself
    (`run_dbt`) passes them in the environment instead, as PARTNEROPS_DBT_VAR_<NAME>, read only
    when a model runs (`execute`): dbt parses the whole project again whenever --vars change,
    and only the SQL of the models depends on these dates, so a run for a new date reuses the
    parsed project (dbt's partial parsing).
#}
{% macro date_var(name) -%}
    {%- set value = var(name, none) -%}
    {%- if (value is none or value | string | trim in ('', 'None', 'null')) and execute -%}
        {%- set value = env_var('PARTNEROPS_DBT_VAR_' ~ name | upper, '') -%}
    {%- endif -%}
    {%- if value is none or value | string | trim in ('', 'None', 'null') -%}
        null::date
    {%- else -%}
        '{{ value | string | trim }}'::date
    {%- endif -%}
{%- endmacro %}

{# The as-of date of a run (see `date_var`). #}
{% macro as_of_var() -%}
    {{ date_var('as_of') }}
{%- endmacro %}

{#
    The exclusive end of a local day: `day_ends_before('d', 'tz')` is 00:00 of the day after
    d in tz. An instant belongs to day d there exactly when it is before this one, so every
    "by the end of d" comparison is a strict `<` against it: evidence at 23:59:59 of the due
    date is on time, evidence at 00:00:00 of the next day is late.
#}
{% macro day_ends_before(date_expr, tz_expr) -%}
    ((({{ date_expr }}) + 1)::timestamp at time zone ({{ tz_expr }}))
{%- endmacro %}

{# The local calendar date of an instant in a time zone. #}
{% macro local_date(ts_expr, tz_expr) -%}
    ((({{ ts_expr }}) at time zone ({{ tz_expr }}))::date)
{%- endmacro %}

{#
    What was known on a date: a row is known as of `as_of_date` when the file that brought it
    was delivered on or before that date. A file delivered on day F arrives at 00:00 of F in
    the feeds' time zone (`arrived_at`), so this is `arrived_at` strictly before the end of
    the as-of date there: a file delivered the day after is not known yet.
#}
{% macro known_by(arrived_at_expr, as_of_date_expr) -%}
    ({{ arrived_at_expr }} < {{ day_ends_before(as_of_date_expr, "'" ~ var('feed_timezone') ~ "'") }})
{%- endmacro %}

{#
    `known_by` for the run's as-of date, for feed-level facts (orders) that are not computed
    per as-of date. Without an as_of var: today in the feeds' time zone.
#}
{% macro known_by_run_as_of(arrived_at_expr) -%}
    {%- set tz = "'" ~ var('feed_timezone') ~ "'" -%}
    {{ known_by(arrived_at_expr, 'coalesce(' ~ as_of_var() ~ ', (now() at time zone ' ~ tz ~ ')::date)') }}
{%- endmacro %}

{#
    The as-of dates this run evaluates, per agreement. An ordinary run evaluates one day
    (var as_of, default today in the agreement's time zone), or a catch-up range from var
    as_of_from. A full refresh (`--full-refresh`) re-evaluates the history from var
    history_start (default: the earliest term start) so the incremental status history
    can be rebuilt identically.
#}
with

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

agreements as (

    select
        agreement_id,
        (array_agg(timezone order by agreement_version desc))[1] as timezone,
        min(term_start_date) as first_term_start_date

    from agreement_versions
    group by agreement_id

),

bounded as (

    select
        agreement_id,
        timezone,
        first_term_start_date,
        coalesce({{ as_of_var() }}, (now() at time zone timezone)::date) as as_of_to

    from agreements

),

ranged as (

    select
        agreement_id,
        timezone,
        as_of_to,
        {% if flags.FULL_REFRESH -%}
        least(coalesce({{ date_var('history_start') }}, first_term_start_date), as_of_to)
        {%- else -%}
        least(coalesce({{ date_var('as_of_from') }}, as_of_to), as_of_to)
        {%- endif %} as as_of_from

    from bounded

),

listed as (

    select
        ranged.agreement_id,
        ranged.timezone,
        day_series.as_of_day::date as as_of_date,
        {{ end_of_day('day_series.as_of_day::date', 'ranged.timezone') }} as as_of_end_at

    from ranged
    cross join lateral generate_series(ranged.as_of_from, ranged.as_of_to, interval '1 day') as day_series (as_of_day)

)

select * from listed

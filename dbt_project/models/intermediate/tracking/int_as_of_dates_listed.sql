{#
    The as-of dates this run evaluates, per agreement. An ordinary run evaluates one day
    (var as_of, default today in the agreement's time zone), or a catch-up range from var
    as_of_from; and, for an agreement with an amendment taken in since the day before that
    range, every date from the amendment's effective date on, because the amendment's
    terms apply from then whenever it was taken in. A full refresh (`--full-refresh`)
    re-evaluates the history from var history_start (default: the agreement's earliest
    term start) so the incremental status history can be rebuilt identically.
#}
with

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

agreements as (

    select
        agreement_id,
        (array_agg(timezone order by agreement_version desc))[1] as timezone,
        min(agreement_version) as first_agreement_version,
        coalesce({{ date_var('history_start') }}, min(term_start_date)) as history_start_date

    from agreement_versions
    group by agreement_id

),

bounded as (

    select
        agreement_id,
        timezone,
        first_agreement_version,
        history_start_date,
        coalesce({{ as_of_var() }}, (now() at time zone timezone)::date) as as_of_to

    from agreements

),

ranged as (

    select
        bounded.agreement_id,
        bounded.timezone,
        bounded.as_of_to,
        {% if flags.FULL_REFRESH -%}
        least(bounded.history_start_date, bounded.as_of_to)
        {%- else -%}
        least(coalesce({{ date_var('as_of_from') }}, bounded.as_of_to), bounded.as_of_to)
        {%- endif %} as run_from_date,
        bounded.history_start_date,
        bounded.first_agreement_version

    from bounded

),

{% if not flags.FULL_REFRESH -%}
amended as (

    -- amendments taken in on or after the day before the run's first date (the previous
    -- run may have been before they arrived): recompute from their effective date
    select
        ranged.agreement_id,
        min(greatest(amendments.effective_from_date, ranged.history_start_date)) as amended_from_date

    from ranged
    inner join agreement_versions as amendments
        on amendments.agreement_id = ranged.agreement_id
        and amendments.agreement_version > ranged.first_agreement_version
        and {{ local_date('amendments.loaded_at', 'ranged.timezone') }} >= ranged.run_from_date - 1
    group by ranged.agreement_id

),
{%- endif %}

spans as (

    select
        ranged.agreement_id,
        ranged.timezone,
        ranged.as_of_to,
        {% if flags.FULL_REFRESH -%}
        ranged.run_from_date
        {%- else -%}
        least(ranged.run_from_date, amended.amended_from_date)
        {%- endif %} as as_of_from

    from ranged
    {% if not flags.FULL_REFRESH -%}
    left join amended
        on amended.agreement_id = ranged.agreement_id
    {%- endif %}

),

listed as (

    select
        spans.agreement_id,
        spans.timezone,
        day_series.as_of_day::date as as_of_date,
        -- instants before this are on or before the as-of date in the agreement's time zone
        {{ day_ends_before('day_series.as_of_day::date', 'spans.timezone') }} as as_of_ends_before

    from spans
    cross join lateral generate_series(spans.as_of_from, spans.as_of_to, interval '1 day') as day_series (as_of_day)

)

select * from listed

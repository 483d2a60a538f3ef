{{ config(materialized='table') }}
{#
    The seasonal plan curve: each day of each term with its planning weight (1.0 on an
    ordinary day, more on the sales events of the plan_curve_events seed: 618, Double 11,
    Double 12) and the cumulative share of the term's weight up to and including that day.
    Quota pacing and GMV pacing read the expected progress from here.
#}
with

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

events as (

    select * from {{ ref('plan_curve_events') }}

),

terms as (

    select distinct term_start_date, term_end_date
    from agreement_versions

),

days as (

    select
        terms.term_start_date,
        terms.term_end_date,
        day_series.term_day::date as calendar_date

    from terms
    cross join lateral generate_series(
        terms.term_start_date, terms.term_end_date, interval '1 day'
    ) as day_series (term_day)

),

weighted as (

    select
        days.term_start_date,
        days.term_end_date,
        days.calendar_date,
        coalesce(max(events.daily_weight), 1.0)::numeric as plan_weight,
        string_agg(events.event_name, ', ') as plan_event_names

    from days
    left join events
        on to_char(days.calendar_date, 'MM-DD') between events.first_month_day and events.last_month_day
    group by days.term_start_date, days.term_end_date, days.calendar_date

),

cumulated as (

    select
        *,
        sum(plan_weight) over (
            partition by term_start_date, term_end_date order by calendar_date
        ) / sum(plan_weight) over (partition by term_start_date, term_end_date) as plan_cumulative_share,
        (calendar_date - term_start_date + 1)::numeric
        / (term_end_date - term_start_date + 1) as pro_rata_cumulative_share

    from weighted

)

select * from cumulated

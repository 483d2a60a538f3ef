{#
    The arrival days a daily roll-up of a raw feed (orders, shipments) takes again on an
    incremental run: every delivery day from the latest one already rolled up on, and the
    delivery days of the feed's files loaded since those the previous run saw (`loads_seen_through`:
    the end of the latest load that run saw). No margin is needed for a load that run did not
    see: the loader holds a lock per feed until it commits, so the loads of a feed commit one
    after the other, and one that was not committed yet ended after every load that was. (A
    margin of minutes used to make a run after a catch-up load take every day loaded in those
    minutes again.) A roll-up's rows of one delivery day are replaced as a whole (delete+insert
    on arrival_date), so taking a day again is safe.

    `rolled_up_arrivals(feed)` is a CTE body with one row: `since` (the earliest instant to
    read; the BRIN index on arrived_at turns it into a short scan), `from_date` (every arrival
    day from this one) and `reloaded` (further arrival days, an array).
#}
{% macro rolled_up_arrivals(feed) -%}
    {%- set tz = "'" ~ var('feed_timezone') ~ "'" -%}
    select
        least(previous.latest_arrival_date, min(loads.arrival_date))::timestamp at time zone {{ tz }} as since,
        previous.latest_arrival_date as from_date,
        coalesce(array_agg(distinct loads.arrival_date) filter (where loads.arrival_date is not null), '{}') as reloaded

    from (
        select
            coalesce(max(arrival_date), '-infinity'::date) as latest_arrival_date,
            coalesce(max(loads_seen_through), '-infinity'::timestamptz) as loads_seen_through
        from {{ this }}
    ) as previous
    left join (
        select
            {{ local_date('arrived_at', tz) }} as arrival_date,
            coalesce(finished_at, started_at) as finished_at
        from {{ source('evidence', 'evidence_loads') }}
        where feed = '{{ feed }}' and status = 'loaded'
    ) as loads
        on loads.finished_at > previous.loads_seen_through
    group by previous.latest_arrival_date
{%- endmacro %}

{# The end of the last load of a feed this run sees (stored with the roll-up's rows). #}
{% macro loads_seen_through(feed) -%}
    (select max(coalesce(finished_at, started_at)) from {{ source('evidence', 'evidence_loads') }}
     where feed = '{{ feed }}' and status = 'loaded')
{%- endmacro %}

{# The rows of a feed's staging model to roll up on this run (all of them on a first or full run). #}
{% macro rolled_up_rows(staging_model) -%}
    {%- set tz = "'" ~ var('feed_timezone') ~ "'" -%}
    select * from {{ ref(staging_model) }}
    {% if is_incremental() -%}
    where arrived_at >= (select since from arrivals)
        and (
            {{ local_date('arrived_at', tz) }} >= (select from_date from arrivals)
            or {{ local_date('arrived_at', tz) }} = any ((select reloaded from arrivals)::date[])
        )
    {%- endif %}
{%- endmacro %}

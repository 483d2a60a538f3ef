{#
    Whether each evidence feed was fresh on each as-of date. A feed is stale when no load
    of it (status loaded) had arrived within `stale_after_days` (seed evidence_feeds) before
    the as-of date. `covered_from_date` (first business date of its data) and
    `last_load_date` tell int_commitment_statuses_resolved whether the absence of evidence
    means anything: only over dates the feed covered.
#}
with

loads as (

    select * from {{ ref('stg_evidence__evidence_loads') }}
    where is_loaded

),

feeds as (

    select * from {{ ref('evidence_feeds') }}

),

as_of_dates as (

    select distinct as_of_date
    from {{ ref('int_as_of_dates_listed') }}

),

checked as (

    select
        feeds.evidence_type,
        feeds.feed,
        feeds.stale_after_days,
        as_of_dates.as_of_date,
        max({{ local_date('loads.arrived_at', "'" ~ var('feed_timezone') ~ "'") }}) as last_load_date,
        min(loads.min_business_date) as covered_from_date,
        max(loads.max_business_date) as covered_through_date

    from feeds
    cross join as_of_dates
    left join loads
        on loads.feed = feeds.feed
        and {{ known_by('loads.arrived_at', 'as_of_dates.as_of_date') }}
    group by feeds.evidence_type, feeds.feed, feeds.stale_after_days, as_of_dates.as_of_date

),

flagged as (

    select
        *,
        last_load_date is null or last_load_date < as_of_date - stale_after_days as is_stale

    from checked

)

select * from flagged

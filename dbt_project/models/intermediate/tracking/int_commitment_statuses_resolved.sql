{#
    The final status of every commitment instance as of each date: the kind's rule gives a
    base status, then, first match wins:
      1. superseded         a later agreement version is in effect on the as-of date;
      2. waived             an account manager's waiver recorded before the as-of date
                            ended (as_of_ends_before);
      3. delivered          a late delivery an account manager accepted (accept_late);
      4. excused            the other side's commitment this one depends on is breached,
                            and this one is not delivered;
      5. insufficient_data  at_risk or breached while the feed that would prove delivery
                            has no data from the instance's opening (its period, for a
                            recurring one); at_risk while that feed is stale; breached while
                            no load of it arrived after the deadline: a missing feed never
                            reads as a breach (a threshold breach rests on windows the feed
                            covered, so it stands);
      6. the base status.
    A dispute does not change the status; it sets is_disputed.
#}
with

listed as (

    select * from {{ ref('int_commitment_instances_listed') }}

),

base_statuses as (

    select * from {{ ref('int_deliverables_judged') }}
    union all
    select * from {{ ref('int_quotas_paced') }}
    union all
    select * from {{ ref('int_thresholds_budgeted') }}

),

decisions as (

    select * from {{ ref('stg_tracking__commitment_decisions') }}

),

feeds as (

    select * from {{ ref('int_evidence_feeds_checked') }}

),

based as (

    select
        listed.*,
        base_statuses.base_status,
        base_statuses.delivered_at,
        base_statuses.evidence_count,
        base_statuses.progress_value,
        base_statuses.progress_target,
        feeds.feed,
        feeds.is_stale as is_feed_stale,
        feeds.last_load_date as feed_last_load_date,
        feeds.covered_from_date as feed_covered_from_date,
        -- the feed must have data from here on for the absence of evidence to mean anything
        coalesce(listed.period_start_date, listed.opens_date) as coverage_needed_from_date

    from listed
    inner join base_statuses
        on base_statuses.commitment_instance_id = listed.commitment_instance_id
        and base_statuses.as_of_date = listed.as_of_date
    left join feeds
        on feeds.evidence_type = listed.evidence_type
        and feeds.as_of_date = listed.as_of_date

),

latest_decisions as (

    -- the latest decision of each kind known by the as-of date, per instance
    select distinct on (based.commitment_instance_id, based.as_of_date, decisions.decision)
        based.commitment_instance_id,
        based.as_of_date,
        decisions.decision,
        decisions.decided_by,
        decisions.decision_comment

    from based
    inner join decisions
        on decisions.agreement_id = based.agreement_id
        and decisions.commitment_id = based.commitment_id
        and (decisions.instance_key is null or decisions.instance_key = based.instance_key)
        and decisions.recorded_at < based.as_of_ends_before
    order by
        based.commitment_instance_id, based.as_of_date, decisions.decision,
        decisions.recorded_at desc, decisions.decision_id desc

),

dependencies as (

    -- the depended-on commitment (same agreement version, other side): breached in any instance?
    select
        based.commitment_instance_id,
        based.as_of_date,
        string_agg(distinct dependency.commitment_id || ' (' || dependency.obligor || ')', ', ')
            as breached_dependency

    from based
    inner join based as dependency
        on dependency.agreement_version_id = based.agreement_version_id
        and dependency.commitment_id = based.depends_on_commitment_id
        and dependency.as_of_date = based.as_of_date
        and dependency.base_status = 'breached'
        and coalesce(dependency.feed_last_load_date > dependency.breach_date, false)
        and coalesce(dependency.feed_covered_from_date <= dependency.coverage_needed_from_date, false)
    group by based.commitment_instance_id, based.as_of_date

),

flagged as (

    select
        based.*,
        waivers.decided_by as waived_by,
        waivers.decision_comment as waiver_comment,
        late_acceptances.decided_by as late_accepted_by,
        disputes.decided_by is not null as is_disputed,
        dependencies.breached_dependency,
        (based.base_status in ('at_risk', 'breached') and based.kind <> 'threshold'
            and coalesce(based.feed_covered_from_date > based.coverage_needed_from_date, true))
        or (based.base_status = 'at_risk' and coalesce(based.is_feed_stale, true))
        or (based.base_status = 'breached' and based.kind <> 'threshold'
            and coalesce(based.feed_last_load_date <= based.breach_date, true)) as lacks_data

    from based
    left join latest_decisions as waivers
        on waivers.commitment_instance_id = based.commitment_instance_id
        and waivers.as_of_date = based.as_of_date
        and waivers.decision = 'waive'
    left join latest_decisions as late_acceptances
        on late_acceptances.commitment_instance_id = based.commitment_instance_id
        and late_acceptances.as_of_date = based.as_of_date
        and late_acceptances.decision = 'accept_late'
    left join latest_decisions as disputes
        on disputes.commitment_instance_id = based.commitment_instance_id
        and disputes.as_of_date = based.as_of_date
        and disputes.decision = 'dispute'
    left join dependencies
        on dependencies.commitment_instance_id = based.commitment_instance_id
        and dependencies.as_of_date = based.as_of_date

),

resolved as (

    select
        *,
        case
            when not is_applicable then 'superseded'
            when waived_by is not null then 'waived'
            when base_status = 'delivered_late' and late_accepted_by is not null then 'delivered'
            when breached_dependency is not null and base_status not in ('delivered', 'delivered_late')
                then 'excused'
            when lacks_data then 'insufficient_data'
            else base_status
        end as status,
        case
            when not is_applicable
                then 'superseded by version ' || applicable_agreement_version::text || ' of the agreement'
            when waived_by is not null then 'waived by ' || waived_by || ': ' || waiver_comment
            when base_status = 'delivered_late' and late_accepted_by is not null
                then 'late delivery accepted by ' || late_accepted_by
            when breached_dependency is not null and base_status not in ('delivered', 'delivered_late')
                then 'the other side breached ' || breached_dependency || ', which this depends on'
            when lacks_data and coalesce(feed_covered_from_date > coverage_needed_from_date, true)
                then 'the ' || coalesce(feed, evidence_type) || ' feed has no data from before '
                || coverage_needed_from_date::text || ' (its data starts '
                || coalesce(feed_covered_from_date::text, 'nowhere') || ')'
            when lacks_data and base_status = 'at_risk'
                then 'the ' || coalesce(feed, evidence_type) || ' feed is stale (last load '
                || coalesce(feed_last_load_date::text, 'never') || ')'
            when lacks_data
                then 'no ' || coalesce(feed, evidence_type) || ' load since the deadline ' || breach_date::text
                || ' (last load ' || coalesce(feed_last_load_date::text, 'never') || ')'
        end as status_reason

    from flagged

)

select * from resolved

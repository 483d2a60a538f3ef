{#
    The quota rule. Progress is the number of matching evidence items dated by the as-of
    date and known by then (delivered on or before it, known_by); the pace is the target times the share of the term elapsed (pro_rata) or the
    share of the seasonal plan curve elapsed (seasonal).
      delivered  progress has reached the target;
      breached   the term has ended short of the target;
      at_risk    progress is below pace * (1 - tolerance);
      on_track   otherwise.
#}
with

listed as (

    select * from {{ ref('int_commitment_instances_listed') }}
    where kind = 'quota'

),

matched as (

    select * from {{ ref('int_commitment_evidence_matched') }}

),

term_days as (

    select * from {{ ref('int_term_days_weighted') }}

),

progress as (

    select
        listed.commitment_instance_id,
        listed.as_of_date,
        count(matched.evidence_id) as evidence_count,
        min(matched.evidence_at) as first_evidence_at,
        max(matched.evidence_at) as last_evidence_at

    from listed
    left join matched
        on matched.commitment_instance_id = listed.commitment_instance_id
        and {{ known_by('matched.arrived_at', 'listed.as_of_date') }}
        and matched.evidence_date <= listed.as_of_date
    group by listed.commitment_instance_id, listed.as_of_date

),

paced as (

    select
        listed.commitment_instance_id,
        listed.as_of_date,
        listed.quota_target,
        listed.quota_tolerance,
        progress.evidence_count,
        progress.last_evidence_at,
        listed.quota_target * case
            when listed.as_of_date < listed.term_start_date then 0
            when listed.as_of_date >= listed.term_end_date then 1
            when listed.quota_pacing = 'seasonal' then term_days.plan_cumulative_share
            else term_days.pro_rata_cumulative_share
        end as expected_count,
        listed.as_of_date > listed.term_end_date as is_term_over

    from listed
    inner join progress
        on progress.commitment_instance_id = listed.commitment_instance_id
        and progress.as_of_date = listed.as_of_date
    left join term_days
        on term_days.term_start_date = listed.term_start_date
        and term_days.term_end_date = listed.term_end_date
        and term_days.calendar_date = listed.as_of_date

),

judged as (

    select
        commitment_instance_id,
        as_of_date,
        case
            when evidence_count >= quota_target then 'delivered'
            when is_term_over then 'breached'
            when evidence_count < expected_count * (1 - quota_tolerance) then 'at_risk'
            else 'on_track'
        end as base_status,
        case when evidence_count >= quota_target then last_evidence_at end as delivered_at,
        evidence_count,
        evidence_count::numeric as progress_value,
        round(expected_count, 4) as progress_target

    from paced

)

select * from judged

{#
    The deliverable rule, for deliverable commitments and each instance of a recurring one.
    As of a date, counting only evidence whose file was delivered by that date (known_by):
      delivered       evidence dated before due_before, i.e. at any instant of the due date
                      (agreement time zone) or earlier;
      delivered_late  evidence, but none of it before due_before (00:00:00 of the day after
                      the due date is late);
      breached        no evidence and the as-of date is after the due date plus grace;
      at_risk         no evidence and the warning point has passed;
      pending         otherwise.
#}
with

listed as (

    select * from {{ ref('int_commitment_instances_listed') }}
    where kind in ('deliverable', 'recurring')

),

matched as (

    select * from {{ ref('int_commitment_evidence_matched') }}

),

known_evidence as (

    select
        listed.commitment_instance_id,
        listed.as_of_date,
        min(matched.evidence_at) filter (where matched.evidence_at < listed.due_before) as on_time_evidence_at,
        min(matched.evidence_at) as first_evidence_at,
        count(*) as evidence_count

    from listed
    inner join matched
        on matched.commitment_instance_id = listed.commitment_instance_id
        and {{ known_by('matched.arrived_at', 'listed.as_of_date') }}
    group by listed.commitment_instance_id, listed.as_of_date

),

judged as (

    select
        listed.commitment_instance_id,
        listed.as_of_date,
        case
            when known_evidence.on_time_evidence_at is not null then 'delivered'
            when known_evidence.first_evidence_at is not null then 'delivered_late'
            when listed.as_of_date > listed.breach_date then 'breached'
            when listed.as_of_date >= listed.warning_date then 'at_risk'
            else 'pending'
        end as base_status,
        coalesce(known_evidence.on_time_evidence_at, known_evidence.first_evidence_at) as delivered_at,
        coalesce(known_evidence.evidence_count, 0) as evidence_count,
        null::numeric as progress_value,
        null::numeric as progress_target

    from listed
    left join known_evidence
        on known_evidence.commitment_instance_id = listed.commitment_instance_id
        and known_evidence.as_of_date = listed.as_of_date

)

select * from judged

{#
    Which evidence counts for which commitment instance (whenever it arrived; the rule
    models keep only what was known by each as-of date). Deliverables and quotas count
    evidence dated from their opening to the end of the term; a recurring instance
    counts evidence of its own period (a data delivery by the period it covers).

    `match_key` is what the two must share, an attestation its agreement and commitment, other
    evidence its brand: equal keys are implied by the conditions below, and let the database
    pair them by a hash of the key instead of testing every instance against every item of
    the same type (20 million pairs tested at a tenth of the reference volume by December).
#}
{%- set match_key -%}
    case when evidence_type = 'attestation' then agreement_id || '|' || commitment_id else brand_id end
{%- endset %}
with

instances as (

    select
        *,
        {{ match_key }} as match_key

    from {{ ref('int_commitment_instances_scheduled') }}
    where kind in ('deliverable', 'recurring', 'quota')

),

evidence as (

    select
        *,
        {{ match_key }} as match_key

    from {{ ref('int_evidence_unioned') }}

),

matched as (

    select
        instances.commitment_instance_id,
        evidence.evidence_type,
        evidence.evidence_id,
        evidence.evidence_date,
        evidence.evidence_at,
        evidence.arrived_at

    from instances
    inner join evidence
        on evidence.evidence_type = instances.evidence_type
        and evidence.match_key = instances.match_key
        and (
            (evidence.evidence_type = 'attestation'
                and evidence.agreement_id = instances.agreement_id
                and evidence.commitment_id = instances.commitment_id)
            or (evidence.evidence_type <> 'attestation'
                and evidence.brand_id = instances.brand_id
                and evidence.attributes @> instances.evidence_match)
        )
        and (
            (instances.kind = 'recurring'
                and evidence.evidence_period_date between instances.period_start_date and instances.period_end_date)
            or (instances.kind <> 'recurring'
                and evidence.evidence_date between instances.opens_date and instances.term_end_date)
        )

)

select * from matched

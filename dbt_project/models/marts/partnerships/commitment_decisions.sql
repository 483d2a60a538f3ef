{#
    The account managers' decisions on commitment instances (waive, dispute, accept a late
    delivery), with who took them and why.
#}
with

decisions as (

    select * from {{ ref('stg_tracking__commitment_decisions') }}

),

final as (

    select
        decision_id::bigint as decision_id,
        agreement_id::text as agreement_id,
        commitment_id::text as commitment_id,
        instance_key::text as instance_key,
        decision::text as decision,
        decision_comment::text as decision_comment,
        decided_by::text as decided_by,
        decided_at::timestamptz as decided_at,
        recorded_at::timestamptz as recorded_at

    from decisions

)

select * from final

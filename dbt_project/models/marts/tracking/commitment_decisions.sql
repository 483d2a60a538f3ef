{{ config(materialized='view', meta={'row_security': 'in_view'}) }}
{#
    One row per account-manager decision on a commitment (waive, dispute, accept late).
    A view, not a table: a decision recorded after the last build counts at once (the
    alerts stop escalating an instance as soon as someone has decided on it).
    It reads below the marts with its owner's rights, so it applies the marts' row-level
    security itself (macros/apply_row_security.sql).
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
        nullif(instance_key, '')::text as instance_key,
        decision::text as decision,
        decision_comment::text as decision_comment,
        decided_by::text as decided_by,
        decided_at::timestamptz as decided_at,
        recorded_at::timestamptz as recorded_at

    from decisions
    where {{ visible_rows('agreement_id') }}

)

select * from final

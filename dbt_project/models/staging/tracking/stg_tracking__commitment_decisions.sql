with

source as (

    select * from {{ source('tracking', 'commitment_decisions') }}

),

renamed as (

    select
        -- ids
        decision_id,
        agreement_id,
        commitment_id,
        instance_key,

        -- strings
        decision,
        comment as decision_comment,
        decided_by,

        -- timestamps
        decided_at,
        recorded_at

    from source

)

select * from renamed

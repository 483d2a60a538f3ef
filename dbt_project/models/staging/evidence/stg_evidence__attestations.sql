with

source as (

    select * from {{ source('evidence', 'attestations') }}

),

renamed as (

    select
        -- ids
        agreement_id || '|' || commitment_id || '|' || attested_by || '|' || attested_at::text
            as attestation_id,
        agreement_id,
        commitment_id,
        load_id,

        -- strings
        attested_by,
        note as attestation_note,
        reference as attestation_reference,

        -- dates
        business_date,

        -- timestamps
        attested_at,
        arrived_at

    from source

)

select * from renamed

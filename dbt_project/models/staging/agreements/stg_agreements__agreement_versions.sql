with

source as (

    select * from {{ source('agreements', 'agreement_versions') }}

),

renamed as (

    select
        -- ids
        agreement_id,
        version as agreement_version,
        agreement_id || '|v' || version::text as agreement_version_id,
        brand_id,
        group_id,
        intake_run_id,

        -- strings
        title as agreement_title,
        amendment_note,
        brand_name,
        group_name,
        timezone,
        account_manager_name,
        account_manager_email,
        escalation_contacts,

        -- numerics
        gmv_target_amount,
        gmv_target_currency,

        -- booleans
        is_current,

        -- dates
        signed_date,
        coalesce(effective_from, signed_date) as effective_from_date,
        term_start as term_start_date,
        term_end as term_end_date,

        -- timestamps
        loaded_at

    from source

)

select * from renamed

{#
    One row per agreement: who is told about it (its current version's account manager and
    escalation contacts) and the names messages show. The alerts route by it.
#}
with

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}
    where is_current

),

final as (

    select
        agreement_id::text as agreement_id,
        agreement_version::integer as agreement_version,
        coalesce(agreement_title, '')::text as agreement_title,
        brand_id::text as brand_id,
        brand_name::text as brand_name,
        group_id::text as group_id,
        group_name::text as group_name,
        account_manager_name::text as account_manager_name,
        account_manager_email::text as account_manager_email,
        coalesce(escalation_contacts, '[]'::jsonb)::jsonb as escalation_contacts

    from agreement_versions

)

select * from final

{#
    Every version of every agreement, with its terms and the date it takes effect: the
    Partnerships view reads the term, the target and the amendments from here.
#}
with

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

final as (

    select
        agreement_version_id::text as agreement_version_id,
        agreement_id::text as agreement_id,
        agreement_version::integer as agreement_version,
        agreement_title::text as agreement_title,
        amendment_note::text as amendment_note,
        brand_id::text as brand_id,
        brand_name::text as brand_name,
        group_id::text as group_id,
        group_name::text as group_name,
        account_manager_name::text as account_manager_name,
        account_manager_email::text as account_manager_email,
        timezone::text as timezone,
        gmv_target_amount::numeric(20, 2) as gmv_target_amount,
        gmv_target_currency::char(3) as gmv_target_currency,
        is_current::boolean as is_current,
        signed_date::date as signed_date,
        term_start_date::date as term_start_date,
        term_end_date::date as term_end_date,
        loaded_at::timestamptz as loaded_at,
        effective_from_date::date as effective_from_date

    from agreement_versions

)

select * from final

{{
    config(
        materialized='incremental',
        unique_key=['as_of_date', 'agreement_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ analyze_when_changed() }}"
    )
}}
{#
    Incremental on (as_of_date, agreement_id): each run evaluates the dates of
    int_as_of_dates_listed (one day normally; from an amendment's effective date for an
    agreement amended since the previous run) and replaces those agreements' rows on those
    dates, so re-running a day replaces it.
#}
with

resolved as (

    select * from {{ ref('int_commitment_statuses_resolved') }}

),

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

weighted as (

    select
        resolved.*,
        -- a recurring commitment weighs its weight in total, shared by its instances so far
        resolved.weight / count(*) over (
            partition by resolved.commitment_version_id, resolved.as_of_date
        ) as instance_weight

    from resolved

),

final as (

    select
        weighted.as_of_date::date as as_of_date,
        weighted.commitment_instance_id::text as commitment_instance_id,
        weighted.agreement_id::text as agreement_id,
        weighted.agreement_version::integer as agreement_version,
        weighted.commitment_id::text as commitment_id,
        weighted.instance_key::text as instance_key,
        agreement_versions.brand_id::text as brand_id,
        agreement_versions.brand_name::text as brand_name,
        agreement_versions.group_id::text as group_id,
        agreement_versions.group_name::text as group_name,
        agreement_versions.account_manager_email::text as account_manager_email,
        weighted.commitment_title::text as commitment_title,
        weighted.pillar::text as pillar,
        weighted.service::text as service,
        weighted.obligor::text as obligor,
        weighted.beneficiary::text as beneficiary,
        weighted.kind::text as kind,
        weighted.evidence_type::text as evidence_type,
        weighted.depends_on_commitment_id::text as depends_on_commitment_id,
        weighted.status::text as status,
        weighted.base_status::text as base_status,
        weighted.status_reason::text as status_reason,
        weighted.is_disputed::boolean as is_disputed,
        weighted.is_due_date_provisional::boolean as is_due_date_provisional,
        weighted.evidence_count::integer as evidence_count,
        weighted.progress_value::numeric as progress_value,
        weighted.progress_target::numeric as progress_target,
        weighted.weight::numeric as weight,
        round(weighted.instance_weight, 6)::numeric as instance_weight,
        weighted.period_start_date::date as period_start_date,
        weighted.period_end_date::date as period_end_date,
        weighted.opens_date::date as opens_date,
        weighted.due_date::date as due_date,
        weighted.breach_date::date as breach_date,
        weighted.warning_date::date as warning_date,
        weighted.due_before::timestamptz as due_before,
        weighted.delivered_at::timestamptz as delivered_at

    from weighted
    inner join agreement_versions
        on agreement_versions.agreement_version_id = weighted.agreement_version_id

)

select * from final

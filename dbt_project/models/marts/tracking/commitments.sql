{#
    One row per commitment of each agreement version: the terms a commitment instance's
    status is judged against (term, quota target, threshold windows and error budget,
    remedy). The alerts read it next to commitment_statuses.
#}
with

commitments as (

    select * from {{ ref('stg_agreements__commitments') }}

),

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

final as (

    select
        commitments.commitment_version_id::text as commitment_version_id,
        commitments.agreement_id::text as agreement_id,
        commitments.agreement_version::integer as agreement_version,
        commitments.commitment_id::text as commitment_id,
        commitments.commitment_title::text as commitment_title,
        commitments.kind::text as kind,
        commitments.obligor::text as obligor,
        commitments.remedy::text as remedy,
        commitments.quota_target::numeric as quota_target,
        commitments.threshold_window::text as threshold_window,
        case when commitments.kind = 'threshold' then commitments.threshold_error_budget end::integer
            as threshold_error_budget,
        case
            when commitments.kind = 'threshold' and commitments.threshold_window is not null
                then {{ periods_in_term('commitments.threshold_window', 'agreement_versions.term_start_date',
                                        'agreement_versions.term_end_date') }}
        end::integer as threshold_windows_in_term,
        agreement_versions.term_start_date::date as term_start_date,
        agreement_versions.term_end_date::date as term_end_date

    from commitments
    inner join agreement_versions
        on agreement_versions.agreement_version_id = commitments.agreement_version_id

)

select * from final

with

source as (

    select * from {{ source('agreements', 'commitments') }}

),

renamed as (

    select
        -- ids
        agreement_id || '|v' || version::text || '|' || commitment_id as commitment_version_id,
        agreement_id || '|v' || version::text as agreement_version_id,
        agreement_id,
        version as agreement_version,
        commitment_id,
        depends_on_commitment_id,

        -- strings
        title as commitment_title,
        description as commitment_description,
        pillar,
        service,
        obligor,
        beneficiary,
        kind,
        recurrence_every,
        quota_pacing,
        threshold_metric,
        threshold_comparison,
        threshold_window,
        evidence_type,
        evidence_match,
        remedy,

        -- numerics
        recurrence_due_after_days,
        recurrence_due_after_business_days,
        quota_target,
        coalesce(quota_tolerance, 0.1) as quota_tolerance,
        threshold_target,
        coalesce(threshold_min_sample, 30) as threshold_min_sample,
        coalesce(threshold_error_budget, 0) as threshold_error_budget,
        grace_days,
        grace_business_days,
        warning_elapsed_share,
        warning_business_days_before_due,
        weight,

        -- dates
        opens_date,
        due_date,
        recurrence_starts_date,
        recurrence_ends_date

    from source

)

select * from renamed

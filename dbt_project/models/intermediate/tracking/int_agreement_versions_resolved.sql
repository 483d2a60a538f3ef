{#
    Which agreement version applies on each as-of date. Every version, the first one and
    every amendment alike, applies from its effective date (effective_from, default its
    signed date), whenever it was taken in; on a date, the highest version in effect
    applies and the instances of the others are superseded.
#}
with

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates_listed') }}

),

dated as (

    select
        as_of_dates.as_of_date,
        as_of_dates.as_of_ends_before,
        agreement_versions.agreement_version_id,
        agreement_versions.agreement_id,
        agreement_versions.agreement_version,
        agreement_versions.effective_from_date,
        max(agreement_versions.agreement_version) over (
            partition by agreement_versions.agreement_id, as_of_dates.as_of_date
        ) as applicable_agreement_version

    from as_of_dates
    inner join agreement_versions
        on agreement_versions.agreement_id = as_of_dates.agreement_id
        and agreement_versions.effective_from_date <= as_of_dates.as_of_date

),

resolved as (

    select
        *,
        agreement_version = applicable_agreement_version as is_applicable

    from dated

)

select * from resolved

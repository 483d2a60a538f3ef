with

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates_listed') }}

),

known as (

    select
        *,
        -- The first version counts from its signing even if it was taken in later (nothing
        -- else was known about the agreement); an amendment counts from the day it was loaded.
        case
            when agreement_version = min(agreement_version) over (partition by agreement_id)
                then least(signed_date, {{ local_date('loaded_at', 'timezone') }})
            else {{ local_date('loaded_at', 'timezone') }}
        end as known_from_date

    from agreement_versions

),

dated as (

    select
        as_of_dates.as_of_date,
        as_of_dates.as_of_end_at,
        known.agreement_version_id,
        known.agreement_id,
        known.agreement_version,
        known.known_from_date,
        max(known.agreement_version) over (
            partition by known.agreement_id, as_of_dates.as_of_date
        ) as applicable_agreement_version

    from as_of_dates
    inner join known
        on known.agreement_id = as_of_dates.agreement_id
        and known.known_from_date <= as_of_dates.as_of_date

),

resolved as (

    select
        *,
        agreement_version = applicable_agreement_version as is_applicable

    from dated

)

select * from resolved

{#
    The commitment instances on each as-of date: every instance of every agreement version
    in effect by then (a recurring instance once its period has started), marked
    applicable when its version is the highest one in effect on that date.
#}
with

versions as (

    select * from {{ ref('int_agreement_versions_resolved') }}

),

instances as (

    select * from {{ ref('int_commitment_instances_scheduled') }}

),

listed as (

    select
        versions.as_of_date,
        versions.as_of_ends_before,
        versions.is_applicable,
        versions.applicable_agreement_version,
        instances.*

    from versions
    inner join instances
        on instances.agreement_version_id = versions.agreement_version_id
    where instances.kind <> 'recurring'
        or instances.period_start_date <= versions.as_of_date

)

select * from listed

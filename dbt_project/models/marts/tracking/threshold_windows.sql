{#
    One row per threshold commitment instance and window, as of the latest as-of date of
    the run: the metric, its sample and the window's compliance, so account managers see
    which windows used the error budget.
#}
with

windows as (

    select * from {{ ref('int_threshold_windows_measured') }}

),

listed as (

    select * from {{ ref('int_commitment_instances_listed') }}
    where kind = 'threshold' and is_applicable

),

latest as (

    -- windows holds every as-of date measured so far; this run's latest is the listed one
    select max(as_of_date) as as_of_date from listed

),

final as (

    select
        windows.as_of_date::date as as_of_date,
        windows.commitment_instance_id::text as commitment_instance_id,
        listed.agreement_id::text as agreement_id,
        listed.commitment_id::text as commitment_id,
        listed.brand_id::text as brand_id,
        listed.obligor::text as obligor,
        windows.window_start_date::date as window_start_date,
        windows.window_end_date::date as window_end_date,
        windows.threshold_metric::text as threshold_metric,
        windows.threshold_comparison::text as threshold_comparison,
        windows.threshold_target::numeric as threshold_target,
        windows.threshold_min_sample::integer as threshold_min_sample,
        windows.sample_size::integer as sample_size,
        windows.metric_value::numeric as metric_value,
        windows.window_status::text as window_status

    from windows
    inner join latest
        on latest.as_of_date = windows.as_of_date
    inner join listed
        on listed.commitment_instance_id = windows.commitment_instance_id
        and listed.as_of_date = windows.as_of_date

)

select * from final

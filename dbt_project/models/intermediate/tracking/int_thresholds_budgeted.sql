{#
    The threshold term rule (error budget and burn rate). The error budget is the number of
    non-compliant windows the term may have. As of a date:
      breached   more non-compliant windows than the budget;
      delivered  the term is over within budget;
      pending    no window judged yet (compliant or non-compliant);
      at_risk    at the current burn rate (non-compliant / judged windows) the term's
                 windows would exceed the budget;
      on_track   otherwise.
#}
with

listed as (

    select * from {{ ref('int_commitment_instances_listed') }}
    where kind = 'threshold'

),

windows as (

    select * from {{ ref('int_threshold_windows_measured') }}

),

counted as (

    select
        listed.commitment_instance_id,
        listed.as_of_date,
        listed.threshold_error_budget,
        listed.as_of_date > listed.term_end_date as is_term_over,
        {{ periods_in_term('listed.threshold_window', 'listed.term_start_date', 'listed.term_end_date') }}
            as windows_in_term,
        count(*) filter (where windows.window_status in ('compliant', 'non_compliant')) as windows_judged,
        count(*) filter (where windows.window_status = 'non_compliant') as windows_missed,
        max(windows.window_end_date) filter (where windows.window_status = 'non_compliant') as last_miss_date

    from listed
    left join windows
        on windows.commitment_instance_id = listed.commitment_instance_id
        and windows.as_of_date = listed.as_of_date
    group by
        listed.commitment_instance_id, listed.as_of_date, listed.threshold_error_budget,
        listed.term_start_date, listed.term_end_date, listed.threshold_window

),

judged as (

    select
        commitment_instance_id,
        as_of_date,
        case
            when windows_missed > threshold_error_budget then 'breached'
            when is_term_over then 'delivered'
            when windows_judged = 0 then 'pending'
            when windows_missed::numeric / windows_judged * windows_in_term > threshold_error_budget then 'at_risk'
            else 'on_track'
        end as base_status,
        null::timestamptz as delivered_at,
        windows_judged as evidence_count,
        windows_missed::numeric as progress_value,
        threshold_error_budget::numeric as progress_target

    from counted

)

select * from judged

{{ config(materialized='table') }}
{#
    The schedule of every commitment instance: when it opens, when it is due, when the
    warning point passes and when it is breached without evidence. Independent of the
    as-of date. This is the one place where due dates, grace and warning points are
    computed (business days through the add_business_days macro).
#}
with

commitments as (

    select * from {{ ref('stg_agreements__commitments') }}

),

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

joined as (

    select
        commitments.*,
        agreement_versions.brand_id,
        agreement_versions.group_id,
        agreement_versions.timezone,
        agreement_versions.gmv_target_currency,
        agreement_versions.term_start_date,
        agreement_versions.term_end_date

    from commitments
    inner join agreement_versions
        on agreement_versions.agreement_version_id = commitments.agreement_version_id

),

single_instances as (

    select
        joined.*,
        'term' as instance_key,
        null::date as period_start_date,
        null::date as period_end_date,
        case
            when joined.kind = 'deliverable' then coalesce(joined.opens_date, joined.term_start_date)
            else joined.term_start_date
        end as instance_opens_date,
        case
            when joined.kind = 'deliverable' then joined.due_date
            else joined.term_end_date
        end as instance_due_date

    from joined
    where joined.kind <> 'recurring'

),

recurring_periods as (

    select
        joined.*,
        greatest(
            period_series.period_start::date,
            coalesce(joined.recurrence_starts_date, joined.term_start_date)
        ) as period_start_date,
        least(
            (period_series.period_start + {{ period_interval('joined.recurrence_every') }} - interval '1 day')::date,
            coalesce(joined.recurrence_ends_date, joined.term_end_date)
        ) as period_end_date

    from joined
    cross join lateral generate_series(
        date_trunc(joined.recurrence_every, coalesce(joined.recurrence_starts_date, joined.term_start_date)),
        coalesce(joined.recurrence_ends_date, joined.term_end_date)::timestamp,
        {{ period_interval('joined.recurrence_every') }}
    ) as period_series (period_start)
    where joined.kind = 'recurring'

),

recurring_instances as (

    select
        recurring_periods.*,
        recurring_periods.period_start_date::text as instance_key,
        -- an instance due after its period (a monthly report) opens when the period ends;
        -- one due at the period's end (a quarterly campaign) opens with the period
        case
            when coalesce(recurring_periods.recurrence_due_after_days, 0) > 0
                or coalesce(recurring_periods.recurrence_due_after_business_days, 0) > 0
                then recurring_periods.period_end_date + 1
            else recurring_periods.period_start_date
        end as instance_opens_date,
        coalesce(
            case
                when recurring_periods.recurrence_due_after_business_days > 0
                    then {{ add_business_days(
                        'recurring_periods.period_end_date',
                        'recurring_periods.recurrence_due_after_business_days') }}
            end,
            recurring_periods.period_end_date
            + coalesce(recurring_periods.recurrence_due_after_days, 0)
            + coalesce(recurring_periods.recurrence_due_after_business_days, 0)
        ) as instance_due_date

    from recurring_periods

),

instances as (

    select
        commitment_version_id, agreement_version_id, agreement_id, agreement_version, commitment_id,
        depends_on_commitment_id, brand_id, group_id, commitment_title, pillar, service, obligor,
        beneficiary, kind, quota_pacing, threshold_metric, threshold_comparison, threshold_window,
        evidence_type, evidence_match, quota_target, quota_tolerance, threshold_target,
        threshold_min_sample, threshold_error_budget, grace_days, grace_business_days,
        warning_elapsed_share, warning_business_days_before_due, recurrence_due_after_business_days,
        weight, timezone, gmv_target_currency, term_start_date, term_end_date, instance_key, period_start_date,
        period_end_date, instance_opens_date, instance_due_date
    from single_instances

    union all

    select
        commitment_version_id, agreement_version_id, agreement_id, agreement_version, commitment_id,
        depends_on_commitment_id, brand_id, group_id, commitment_title, pillar, service, obligor,
        beneficiary, kind, quota_pacing, threshold_metric, threshold_comparison, threshold_window,
        evidence_type, evidence_match, quota_target, quota_tolerance, threshold_target,
        threshold_min_sample, threshold_error_budget, grace_days, grace_business_days,
        warning_elapsed_share, warning_business_days_before_due, recurrence_due_after_business_days,
        weight, timezone, gmv_target_currency, term_start_date, term_end_date, instance_key, period_start_date,
        period_end_date, instance_opens_date, instance_due_date
    from recurring_instances

),

with_grace as (

    select
        instances.*,
        coalesce(
            case
                when instances.grace_business_days > 0
                    then {{ add_business_days('instances.instance_due_date', 'instances.grace_business_days') }}
            end,
            instances.instance_due_date + instances.grace_days + instances.grace_business_days
        ) as breach_date,
        case
            when instances.warning_business_days_before_due is not null
                then {{ add_business_days(
                    'instances.instance_due_date',
                    '1 - instances.warning_business_days_before_due') }}
        end as warning_business_date,
        instances.instance_opens_date + ceil(
            coalesce(instances.warning_elapsed_share, {{ var('warning_elapsed_share') }})
            * (instances.instance_due_date - instances.instance_opens_date)
        )::integer as warning_elapsed_date

    from instances

),

scheduled as (

    select
        -- ids
        commitment_version_id || '|' || instance_key as commitment_instance_id,
        commitment_version_id,
        agreement_version_id,
        agreement_id,
        agreement_version,
        commitment_id,
        instance_key,
        depends_on_commitment_id,
        brand_id,
        group_id,

        -- strings
        commitment_title,
        pillar,
        service,
        obligor,
        beneficiary,
        kind,
        quota_pacing,
        threshold_metric,
        threshold_comparison,
        threshold_window,
        evidence_type,
        evidence_match,
        timezone,
        gmv_target_currency,

        -- numerics
        quota_target,
        quota_tolerance,
        threshold_target,
        threshold_min_sample,
        threshold_error_budget,
        grace_days,
        grace_business_days,
        weight,

        -- booleans
        (coalesce(recurrence_due_after_business_days, 0) > 0
            or grace_business_days > 0
            or warning_business_days_before_due is not null)
        and {{ calendar_is_provisional('coalesce(period_end_date, instance_due_date)', 'breach_date') }}
            as is_due_date_provisional,

        -- dates
        term_start_date,
        term_end_date,
        period_start_date,
        period_end_date,
        instance_opens_date as opens_date,
        instance_due_date as due_date,
        breach_date,
        case
            when kind in ('deliverable', 'recurring')
                then least(warning_elapsed_date, coalesce(warning_business_date, warning_elapsed_date))
        end as warning_date,

        -- timestamps: evidence strictly before due_before (00:00 after the due date) is on time
        {{ day_ends_before('instance_due_date', 'timezone') }} as due_before

    from with_grace

)

select * from scheduled

{#
    Fulfilment of each agreement by each side, per as-of date. The weighted score is
    sum(instance_weight * score) / sum(instance_weight) over the scored instances, with the
    scores of the status_scores seed (delivered 1, on_track 1, delivered_late 0.5,
    at_risk 0.5, breached 0); pending, excused, waived, superseded and insufficient_data
    instances are not scored.
#}
with

statuses as (

    select * from {{ ref('commitment_statuses') }}
    where status <> 'superseded'

),

scores as (

    select * from {{ ref('status_scores') }}

),

sides as (

    select 'platform' as obligor
    union all
    select 'brand' as obligor

),

agreements as (

    select distinct as_of_date, agreement_id, brand_id, brand_name, group_id, group_name, account_manager_email
    from statuses

),

scored as (

    select
        statuses.*,
        scores.score

    from statuses
    left join scores
        on scores.status = statuses.status

),

aggregated as (

    select
        agreements.as_of_date,
        agreements.agreement_id,
        sides.obligor,
        agreements.brand_id,
        agreements.brand_name,
        agreements.group_id,
        agreements.group_name,
        agreements.account_manager_email,
        count(scored.commitment_instance_id) as instance_count,
        count(*) filter (where scored.status = 'pending') as pending_count,
        count(*) filter (where scored.status = 'on_track') as on_track_count,
        count(*) filter (where scored.status = 'at_risk') as at_risk_count,
        count(*) filter (where scored.status = 'delivered') as delivered_count,
        count(*) filter (where scored.status = 'delivered_late') as delivered_late_count,
        count(*) filter (where scored.status = 'breached') as breached_count,
        count(*) filter (where scored.status = 'excused') as excused_count,
        count(*) filter (where scored.status = 'waived') as waived_count,
        count(*) filter (where scored.status = 'insufficient_data') as insufficient_data_count,
        sum(scored.instance_weight) filter (where scored.score is not null) as scored_weight,
        sum(scored.instance_weight * scored.score) filter (where scored.score is not null) as earned_weight

    from agreements
    cross join sides
    left join scored
        on scored.as_of_date = agreements.as_of_date
        and scored.agreement_id = agreements.agreement_id
        and scored.obligor = sides.obligor
    group by
        agreements.as_of_date, agreements.agreement_id, sides.obligor, agreements.brand_id,
        agreements.brand_name, agreements.group_id, agreements.group_name, agreements.account_manager_email

),

final as (

    select
        as_of_date::date as as_of_date,
        agreement_id::text as agreement_id,
        obligor::text as obligor,
        brand_id::text as brand_id,
        brand_name::text as brand_name,
        group_id::text as group_id,
        group_name::text as group_name,
        account_manager_email::text as account_manager_email,
        instance_count::integer as instance_count,
        pending_count::integer as pending_count,
        on_track_count::integer as on_track_count,
        at_risk_count::integer as at_risk_count,
        delivered_count::integer as delivered_count,
        delivered_late_count::integer as delivered_late_count,
        breached_count::integer as breached_count,
        excused_count::integer as excused_count,
        waived_count::integer as waived_count,
        insufficient_data_count::integer as insufficient_data_count,
        coalesce(scored_weight, 0)::numeric as scored_weight,
        round(earned_weight / nullif(scored_weight, 0), 4)::numeric as weighted_score

    from aggregated

)

select * from final

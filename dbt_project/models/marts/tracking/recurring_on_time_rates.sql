{#
    The roll-up of recurring commitments: of the instances judged so far (delivered,
    delivered late or breached), the share delivered on time.
#}
with

statuses as (

    select * from {{ ref('commitment_statuses') }}
    where kind = 'recurring' and status <> 'superseded'

),

rolled_up as (

    select
        as_of_date,
        agreement_id,
        agreement_version,
        commitment_id,
        min(obligor) as obligor,
        min(pillar) as pillar,
        count(*) as instance_count,
        count(*) filter (where status = 'delivered') as on_time_count,
        count(*) filter (where status = 'delivered_late') as late_count,
        count(*) filter (where status = 'breached') as breached_count,
        count(*) filter (where status in ('waived', 'excused', 'insufficient_data')) as not_judged_count

    from statuses
    group by as_of_date, agreement_id, agreement_version, commitment_id

),

final as (

    select
        as_of_date::date as as_of_date,
        agreement_id::text as agreement_id,
        agreement_version::integer as agreement_version,
        commitment_id::text as commitment_id,
        obligor::text as obligor,
        pillar::text as pillar,
        instance_count::integer as instance_count,
        on_time_count::integer as on_time_count,
        late_count::integer as late_count,
        breached_count::integer as breached_count,
        not_judged_count::integer as not_judged_count,
        round(on_time_count::numeric / nullif(on_time_count + late_count + breached_count, 0), 4)::numeric
            as on_time_rate

    from rolled_up

)

select * from final

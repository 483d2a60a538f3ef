{#
    The body of brand_scorecards and group_scorecards: commitment statuses of one entity
    (brand or group) rolled up by pillar and side, scored with the status_scores seed.
#}
{% macro scorecard(id_column, name_column) %}
with

statuses as (

    select * from {{ ref('commitment_statuses') }}
    where status <> 'superseded'

),

scores as (

    select * from {{ ref('status_scores') }}

),

aggregated as (

    select
        statuses.as_of_date,
        statuses.{{ id_column }},
        min(statuses.{{ name_column }}) as {{ name_column }},
        statuses.pillar,
        statuses.obligor,
        count(distinct statuses.agreement_id) as agreement_count,
        count(*) as instance_count,
        count(*) filter (where statuses.status in ('delivered', 'on_track')) as good_count,
        count(*) filter (where statuses.status in ('delivered_late', 'at_risk')) as warning_count,
        count(*) filter (where statuses.status = 'breached') as breached_count,
        count(*) filter (where statuses.status = 'insufficient_data') as insufficient_data_count,
        sum(statuses.instance_weight) filter (where scores.score is not null) as scored_weight,
        sum(statuses.instance_weight * scores.score) filter (where scores.score is not null) as earned_weight

    from statuses
    left join scores
        on scores.status = statuses.status
    group by statuses.as_of_date, statuses.{{ id_column }}, statuses.pillar, statuses.obligor

),

final as (

    select
        as_of_date::date as as_of_date,
        {{ id_column }}::text as {{ id_column }},
        {{ name_column }}::text as {{ name_column }},
        pillar::text as pillar,
        obligor::text as obligor,
        agreement_count::integer as agreement_count,
        instance_count::integer as instance_count,
        good_count::integer as good_count,
        warning_count::integer as warning_count,
        breached_count::integer as breached_count,
        insufficient_data_count::integer as insufficient_data_count,
        coalesce(scored_weight, 0)::numeric as scored_weight,
        round(earned_weight / nullif(scored_weight, 0), 4)::numeric as weighted_score

    from aggregated

)

select * from final
{% endmacro %}

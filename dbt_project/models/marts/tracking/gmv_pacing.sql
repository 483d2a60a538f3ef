{#
    GMV against the agreement's target, paced on the seasonal plan curve: one row per
    agreement and month of its term, as of the run's latest as-of date. Planned GMV is
    the target times the plan curve's share of the month (618 and Double 11 weigh more);
    actual GMV counts the orders in the target's currency known by the as-of date (files
    delivered on or before it), from the daily roll-up of orders. Without a single such order the pacing reads
    insufficient_data with a reason, and actual GMV and the pace index stay empty.
#}
with

versions as (

    select * from {{ ref('int_agreement_versions_resolved') }}
    where is_applicable

),

agreement_versions as (

    select * from {{ ref('stg_agreements__agreement_versions') }}

),

term_days as (

    select * from {{ ref('int_term_days_weighted') }}

),

order_days as (

    select * from {{ ref('int_orders_rolled_up_daily') }}

),

latest as (

    select agreement_id, max(as_of_date) as as_of_date
    from versions
    group by agreement_id

),

current_versions as (

    select
        versions.as_of_date,
        agreement_versions.*

    from versions
    inner join latest
        on latest.agreement_id = versions.agreement_id
        and latest.as_of_date = versions.as_of_date
    inner join agreement_versions
        on agreement_versions.agreement_version_id = versions.agreement_version_id

),

planned as materialized (

    select
        current_versions.agreement_id,
        date_trunc('month', term_days.calendar_date)::date as pacing_month,
        sum(term_days.plan_weight) as month_plan_weight,
        max(term_days.plan_cumulative_share) as month_end_cumulative_share,
        max(term_days.plan_cumulative_share) filter (
            where term_days.calendar_date <= current_versions.as_of_date
        ) as to_date_cumulative_share

    from current_versions
    inner join term_days
        on term_days.term_start_date = current_versions.term_start_date
        and term_days.term_end_date = current_versions.term_end_date
    group by current_versions.agreement_id, date_trunc('month', term_days.calendar_date)::date

),

known_orders as materialized (

    -- the brand's orders in the term known by the as-of date, per month and currency
    select
        current_versions.agreement_id,
        date_trunc('month', order_days.business_date)::date as pacing_month,
        order_days.order_currency,
        sum(order_days.order_count) as order_count,
        sum(order_days.order_amount) as order_amount

    from current_versions
    inner join order_days
        on order_days.brand_id = current_versions.brand_id
        and order_days.business_date between current_versions.term_start_date
        and least(current_versions.term_end_date, current_versions.as_of_date)
        and order_days.arrival_date <= current_versions.as_of_date
    group by current_versions.agreement_id, date_trunc('month', order_days.business_date)::date,
        order_days.order_currency

),

actual as (

    select
        known_orders.agreement_id,
        known_orders.pacing_month,
        sum(known_orders.order_amount) as actual_gmv

    from known_orders
    inner join current_versions
        on current_versions.agreement_id = known_orders.agreement_id
        and current_versions.gmv_target_currency = known_orders.order_currency
    group by known_orders.agreement_id, known_orders.pacing_month

),

currencies as (

    select
        known_orders.agreement_id,
        sum(known_orders.order_count) as known_order_count,
        coalesce(sum(known_orders.order_count) filter (
            where known_orders.order_currency = current_versions.gmv_target_currency
        ), 0) as target_currency_order_count,
        string_agg(distinct known_orders.order_currency, ', ' order by known_orders.order_currency)
            as order_currencies

    from known_orders
    inner join current_versions
        on current_versions.agreement_id = known_orders.agreement_id
    group by known_orders.agreement_id

),

judged as (

    -- GMV is measured only in the target's currency: without a single known order in it,
    -- the pace is unknown (insufficient_data), never 0 % of plan
    select
        current_versions.agreement_id,
        case
            when coalesce(currencies.target_currency_order_count, 0) = 0 then 'insufficient_data'
            else 'measured'
        end as pacing_status,
        case
            when currencies.known_order_count is null
                then 'no order of brand ' || current_versions.brand_id || ' in the term is known by '
                || current_versions.as_of_date::text
            when currencies.target_currency_order_count = 0
                then 'the GMV target is in ' || current_versions.gmv_target_currency || ', but none of the '
                || currencies.known_order_count::text || ' known orders of brand ' || current_versions.brand_id
                || ' in the term is (they are in ' || currencies.order_currencies || ')'
        end as pacing_reason

    from current_versions
    left join currencies
        on currencies.agreement_id = current_versions.agreement_id

),

assembled as (

    select
        current_versions.as_of_date,
        current_versions.agreement_id,
        current_versions.brand_id,
        current_versions.group_id,
        planned.pacing_month,
        current_versions.gmv_target_amount,
        current_versions.gmv_target_currency,
        current_versions.gmv_target_amount * planned.month_plan_weight
        / sum(planned.month_plan_weight) over (partition by current_versions.agreement_id) as planned_gmv,
        current_versions.gmv_target_amount * planned.month_end_cumulative_share as planned_cumulative_gmv,
        current_versions.gmv_target_amount * planned.to_date_cumulative_share as planned_to_date_gmv,
        judged.pacing_status,
        judged.pacing_reason,
        case
            when planned.pacing_month <= current_versions.as_of_date and judged.pacing_status = 'measured'
                then coalesce(actual.actual_gmv, 0)
        end as actual_gmv

    from current_versions
    inner join planned
        on planned.agreement_id = current_versions.agreement_id
    left join actual
        on actual.agreement_id = current_versions.agreement_id
        and actual.pacing_month = planned.pacing_month
    inner join judged
        on judged.agreement_id = current_versions.agreement_id

),

cumulated as (

    select
        *,
        case when actual_gmv is not null then sum(actual_gmv) over (
            partition by agreement_id order by pacing_month
        ) end as actual_cumulative_gmv

    from assembled

),

final as (

    select
        as_of_date::date as as_of_date,
        agreement_id::text as agreement_id,
        brand_id::text as brand_id,
        group_id::text as group_id,
        pacing_month::date as pacing_month,
        gmv_target_amount::numeric(20, 2) as gmv_target_amount,
        gmv_target_currency::char(3) as gmv_target_currency,
        round(planned_gmv, 2)::numeric(20, 2) as planned_gmv,
        round(planned_cumulative_gmv, 2)::numeric(20, 2) as planned_cumulative_gmv,
        actual_gmv::numeric(20, 2) as actual_gmv,
        actual_cumulative_gmv::numeric(20, 2) as actual_cumulative_gmv,
        round(actual_cumulative_gmv / nullif(planned_to_date_gmv, 0), 4)::numeric as pace_index,
        pacing_status::text as pacing_status,
        pacing_reason::text as pacing_reason,
        round(planned_to_date_gmv, 2)::numeric(20, 2) as planned_to_date_gmv

    from cumulated

)

select * from final

{{
    config(
        materialized='incremental',
        unique_key='brand_month_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#
    Potential-customer programme KPIs: one row per brand and month, from the brand's first
    month with orders to its latest. Incremental: a run recomputes, for each brand whose
    customer-months changed, the months from the earliest changed one on (later months'
    retained and dormant counts depend on earlier ones).
#}
with

customer_months as (

    select * from {{ ref('customer_months') }}

),

{% if is_incremental() %}
changed as (

    select brand_id, min(order_month) as from_month
    from customer_months
    where last_arrived_at > (
        select coalesce(max(source_last_arrived_at), '-infinity'::timestamptz) from {{ this }}
    )
    group by brand_id

),
{% endif %}

sequenced as (

    -- one pass over the customer-months: each with the customer's previous and next active month
    select
        brand_id,
        customer_id,
        order_month,
        order_count,
        order_amount,
        last_arrived_at,
        lead(order_month) over (partition by brand_id, customer_id order by order_month) as next_order_month,
        lag(order_month) over (partition by brand_id, customer_id order by order_month) as previous_order_month

    from customer_months

),

brand_months as (

    select
        bounds.brand_id,
        month_series.month_start::date as kpi_month

    from (
        select brand_id, min(order_month) as first_month, max(order_month) as last_month
        from customer_months
        group by brand_id
    ) as bounds
    cross join lateral generate_series(bounds.first_month, bounds.last_month, interval '1 month')
        as month_series (month_start)

),

active as (

    select
        brand_id,
        order_month as kpi_month,
        count(*) as active_customers,
        -- a customer's first month is the one without a previous one
        count(*) filter (where previous_order_month is null) as new_customers,
        count(*) filter (
            where previous_order_month >= (order_month - interval '6 months')::date
        ) as retained_customers,
        count(*) filter (
            where previous_order_month < (order_month - interval '6 months')::date
        ) as reactivated_customers,
        count(*) filter (where order_count >= 2) as repeat_customers,
        sum(order_count) as order_count,
        sum(order_amount) as gmv,
        max(last_arrived_at) as month_last_arrived_at

    from sequenced
    group by brand_id, order_month

),

dormant_spans as (

    -- a customer is dormant in the months from 6 to 24 months after an active month, until
    -- their next active month: +1 from the span's first month, -1 after its last
    select
        brand_id,
        (order_month + interval '6 months')::date as dormant_from,
        (least(
            order_month + interval '24 months',
            coalesce(next_order_month - interval '1 month', order_month + interval '24 months')
        ) + interval '1 month')::date as dormant_until

    from sequenced

),

dormant_changes as (

    select brand_id, kpi_month, sum(change) as change
    from (
        select brand_id, dormant_from as kpi_month, 1 as change
        from dormant_spans
        where dormant_from < dormant_until
        union all
        select brand_id, dormant_until as kpi_month, -1 as change
        from dormant_spans
        where dormant_from < dormant_until
    ) as changes
    group by brand_id, kpi_month

),

dormant as (

    select
        brand_months.brand_id,
        brand_months.kpi_month,
        sum(coalesce(dormant_changes.change, 0)) over (
            partition by brand_months.brand_id order by brand_months.kpi_month
        ) as dormant_customers

    from brand_months
    left join dormant_changes
        on dormant_changes.brand_id = brand_months.brand_id
        and dormant_changes.kpi_month = brand_months.kpi_month

),

assembled as (

    select
        brand_months.brand_id,
        brand_months.kpi_month,
        coalesce(active.active_customers, 0) as active_customers,
        coalesce(active.new_customers, 0) as new_customers,
        coalesce(active.retained_customers, 0) as retained_customers,
        coalesce(active.reactivated_customers, 0) as reactivated_customers,
        coalesce(dormant.dormant_customers, 0) as dormant_customers,
        coalesce(active.repeat_customers, 0) as repeat_customers,
        round(active.repeat_customers::numeric / nullif(active.active_customers, 0), 4) as repeat_purchase_rate,
        coalesce(active.order_count, 0) as order_count,
        coalesce(active.gmv, 0) as gmv,
        max(active.month_last_arrived_at) over (
            partition by brand_months.brand_id order by brand_months.kpi_month
        ) as source_last_arrived_at

    from brand_months
    left join active
        on active.brand_id = brand_months.brand_id
        and active.kpi_month = brand_months.kpi_month
    left join dormant
        on dormant.brand_id = brand_months.brand_id
        and dormant.kpi_month = brand_months.kpi_month

),

final as (

    select
        (assembled.brand_id || '|' || to_char(assembled.kpi_month, 'YYYY-MM'))::text as brand_month_id,
        assembled.brand_id::text as brand_id,
        assembled.kpi_month::date as kpi_month,
        assembled.active_customers::integer as active_customers,
        assembled.new_customers::integer as new_customers,
        assembled.retained_customers::integer as retained_customers,
        assembled.reactivated_customers::integer as reactivated_customers,
        assembled.dormant_customers::integer as dormant_customers,
        assembled.repeat_customers::integer as repeat_customers,
        assembled.repeat_purchase_rate::numeric as repeat_purchase_rate,
        assembled.order_count::integer as order_count,
        assembled.gmv::numeric(20, 2) as gmv,
        assembled.source_last_arrived_at::timestamptz as source_last_arrived_at

    from assembled
    {% if is_incremental() %}
    inner join changed
        on changed.brand_id = assembled.brand_id
        and assembled.kpi_month >= changed.from_month
    {% endif %}

)

select * from final

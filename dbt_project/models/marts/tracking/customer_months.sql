{{
    config(
        materialized='incremental',
        unique_key=['brand_id', 'customer_id', 'order_month'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ analyze_when_changed() }}",
        full_refresh=false,
        indexes=[
            {'columns': ['last_arrived_at']}
        ]
    )
}}
{#
    One row per brand, customer and month with orders, from the orders known by the end of
    the as-of date. Incremental: a run reads only the orders that arrived after the latest
    arrival already aggregated (last_arrived_at; the BRIN index on arrived_at finds them),
    and adds them to the customer-months they touch: counts and amounts add up, first dates,
    currencies and arrivals are the smaller or larger of the two. Kept forever, also by
    --full-refresh (full_refresh=false), like the daily roll-ups: retention archives old raw
    orders; drop the table to rebuild it from the orders still in the database.
    first_arrived_at and repeat_arrived_at say when the row came to exist and when it reached two
    orders, so that what it was at an earlier watermark can be told from the row
    (int_customer_kpis_accumulated counts the KPIs by difference).
#}
with

orders as (

    select * from {{ ref('stg_evidence__orders') }}
    where {{ known_by_run_as_of('arrived_at') }}
    {% if is_incremental() %}
        and arrived_at > {{ incremental_watermark('last_arrived_at') }}
    {% endif %}

),

aggregated as (

    select
        orders.brand_id,
        orders.customer_id,
        date_trunc('month', orders.business_date)::date as order_month,
        count(*) as order_count,
        sum(orders.order_amount) as order_amount,
        min(orders.order_currency) as order_currency,
        min(orders.business_date) as first_order_date,
        min(orders.arrived_at) as first_arrived_at,
        (array_agg(orders.arrived_at order by orders.arrived_at))[2] as second_arrived_at,
        max(orders.arrived_at) as last_arrived_at

    from orders
    group by orders.brand_id, orders.customer_id, date_trunc('month', orders.business_date)::date

),

{% if is_incremental() %}
merged as (

    -- the new orders added to what the customer-month already had
    select
        arrived.brand_id,
        arrived.customer_id,
        arrived.order_month,
        arrived.order_count + coalesce(previous.order_count, 0) as order_count,
        arrived.order_amount + coalesce(previous.order_amount, 0) as order_amount,
        least(arrived.order_currency, previous.order_currency) as order_currency,
        least(arrived.first_order_date, previous.first_order_date) as first_order_date,
        -- the orders read now all arrived after the ones the row had
        coalesce(previous.first_arrived_at, arrived.first_arrived_at) as first_arrived_at,
        case
            when previous.order_count >= 2 then previous.repeat_arrived_at
            when previous.order_count = 1 then arrived.first_arrived_at
            else arrived.second_arrived_at
        end as repeat_arrived_at,
        greatest(arrived.last_arrived_at, previous.last_arrived_at) as last_arrived_at

    from aggregated as arrived
    left join {{ this }} as previous
        on previous.brand_id = arrived.brand_id
        and previous.customer_id = arrived.customer_id
        and previous.order_month = arrived.order_month

),
{% else %}
merged as (

    select aggregated.*, aggregated.second_arrived_at as repeat_arrived_at
    from aggregated

),
{% endif %}

final as (

    select
        brand_id::text as brand_id,
        customer_id::text as customer_id,
        order_month::date as order_month,
        order_count::integer as order_count,
        order_amount::numeric(20, 2) as order_amount,
        order_currency::char(3) as order_currency,
        first_order_date::date as first_order_date,
        first_arrived_at::timestamptz as first_arrived_at,
        repeat_arrived_at::timestamptz as repeat_arrived_at,
        last_arrived_at::timestamptz as last_arrived_at

    from merged

)

select * from final

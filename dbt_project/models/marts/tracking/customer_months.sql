{{
    config(
        materialized='incremental',
        unique_key='customer_month_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#
    One row per brand, customer and month with orders, from the orders known by the end of
    the as-of date. Incremental: a run re-aggregates only the customer-months that received
    orders arriving after the latest arrival already aggregated (last_arrived_at).
#}
with

orders as (

    select * from {{ ref('stg_evidence__orders') }}
    where {{ known_by_run_as_of('arrived_at') }}

),

{% if is_incremental() %}
touched as (

    select distinct
        brand_id,
        customer_id,
        date_trunc('month', business_date)::date as order_month

    from orders
    where arrived_at > (select coalesce(max(last_arrived_at), '-infinity'::timestamptz) from {{ this }})

),
{% endif %}

aggregated as (

    select
        orders.brand_id,
        orders.customer_id,
        date_trunc('month', orders.business_date)::date as order_month,
        count(*) as order_count,
        sum(orders.order_amount) as order_amount,
        min(orders.order_currency) as order_currency,
        min(orders.business_date) as first_order_date,
        max(orders.arrived_at) as last_arrived_at

    from orders
    {% if is_incremental() %}
    inner join touched
        on touched.brand_id = orders.brand_id
        and touched.customer_id = orders.customer_id
        and touched.order_month = date_trunc('month', orders.business_date)::date
    {% endif %}
    group by orders.brand_id, orders.customer_id, date_trunc('month', orders.business_date)::date

),

final as (

    select
        (brand_id || '|' || customer_id || '|' || to_char(order_month, 'YYYY-MM'))::text as customer_month_id,
        brand_id::text as brand_id,
        customer_id::text as customer_id,
        order_month::date as order_month,
        order_count::integer as order_count,
        order_amount::numeric(20, 2) as order_amount,
        order_currency::char(3) as order_currency,
        first_order_date::date as first_order_date,
        last_arrived_at::timestamptz as last_arrived_at

    from aggregated

)

select * from final

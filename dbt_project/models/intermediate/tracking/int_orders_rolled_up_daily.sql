{{
    config(
        materialized='incremental',
        unique_key='arrival_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ analyze_when_changed() }}",
        full_refresh=false
    )
}}
{#
    Orders rolled up per brand, business date, delivery day (arrival_date: the date the file
    that brought them was delivered, in the feeds' time zone), channel, product lifecycle and
    currency: the order count and amount. The threshold windows and GMV pacing read this, never
    the raw orders: "known by the as-of date" (known_by) is `arrival_date <= as_of_date` here.
    Incremental by delivery day (macro rolled_up_arrivals): a day's run reads only that day's
    files. Kept forever, also by --full-refresh (full_refresh=false): retention archives the raw
    detail, the roll-up stays; drop it to rebuild it from the orders still in the database.
#}
with

{% if is_incremental() %}
arrivals as (

    {{ rolled_up_arrivals('orders') }}

),
{% endif %}

orders as (

    {{ rolled_up_rows('stg_evidence__orders') }}

),

rolled_up as (

    select
        brand_id,
        business_date,
        {{ local_date('arrived_at', "'" ~ var('feed_timezone') ~ "'") }} as arrival_date,
        channel,
        product_lifecycle,
        order_currency,
        count(*) as order_count,
        sum(order_amount) as order_amount

    from orders
    group by 1, 2, 3, 4, 5, 6

),

final as (

    select
        brand_id::text as brand_id,
        business_date::date as business_date,
        arrival_date::date as arrival_date,
        channel::text as channel,
        product_lifecycle::text as product_lifecycle,
        order_currency::char(3) as order_currency,
        order_count::bigint as order_count,
        order_amount::numeric(20, 2) as order_amount,
        {{ loads_seen_through('orders') }}::timestamptz as loads_seen_through

    from rolled_up

)

select * from final

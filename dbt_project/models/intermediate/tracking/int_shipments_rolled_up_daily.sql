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
    Shipments rolled up per brand, business date (the date paid) and delivery day
    (arrival_date, in the feeds' time zone): how many, how many shipped within 48 hours of
    payment, how many delivered within 72 hours of shipping. The threshold windows read
    this, never the raw shipments; incremental by delivery day like int_orders_rolled_up_daily.
#}
with

{% if is_incremental() %}
arrivals as (

    {{ rolled_up_arrivals('shipments') }}

),
{% endif %}

shipments as (

    {{ rolled_up_rows('stg_evidence__shipments') }}

),

rolled_up as (

    select
        brand_id,
        business_date,
        {{ local_date('arrived_at', "'" ~ var('feed_timezone') ~ "'") }} as arrival_date,
        count(*) as shipment_count,
        count(*) filter (where is_shipped_within_48h) as shipped_within_48h_count,
        count(*) filter (where is_delivered_within_72h) as delivered_within_72h_count

    from shipments
    group by 1, 2, 3

),

final as (

    select
        brand_id::text as brand_id,
        business_date::date as business_date,
        arrival_date::date as arrival_date,
        shipment_count::bigint as shipment_count,
        shipped_within_48h_count::bigint as shipped_within_48h_count,
        delivered_within_72h_count::bigint as delivered_within_72h_count,
        {{ loads_seen_through('shipments') }}::timestamptz as loads_seen_through

    from rolled_up

)

select * from final

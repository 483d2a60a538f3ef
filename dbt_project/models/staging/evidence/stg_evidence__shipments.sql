with

source as (

    select * from {{ source('evidence', 'shipments') }}

),

renamed as (

    select
        -- ids
        order_id,
        brand_id,
        warehouse_id,
        load_id,

        -- strings
        carrier,

        -- booleans
        shipped_at - paid_at <= interval '48 hours' as is_shipped_within_48h,
        coalesce(delivered_at - shipped_at <= interval '72 hours', false) as is_delivered_within_72h,

        -- dates
        business_date,

        -- timestamps
        paid_at,
        shipped_at,
        delivered_at,
        arrived_at

    from source

)

select * from renamed

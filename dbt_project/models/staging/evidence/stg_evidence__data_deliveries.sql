with

source as (

    select * from {{ source('evidence', 'data_deliveries') }}

),

renamed as (

    select
        -- ids
        brand_id || '|' || deliverable_type || '|' || period_start_date::text as data_delivery_id,
        brand_id,
        load_id,

        -- strings
        deliverable_type,

        -- numerics
        records_delivered,

        -- dates
        period_start_date,
        period_end_date,
        business_date,

        -- timestamps
        delivered_at,
        arrived_at

    from source

)

select * from renamed

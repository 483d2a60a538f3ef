with

source as (

    select * from {{ source('evidence', 'channel_listings') }}

),

renamed as (

    select
        -- ids
        listing_id,
        brand_id,
        collection_id,
        sku_id,
        load_id,

        -- strings
        retail_format,
        channel,

        -- dates
        business_date,

        -- timestamps
        listed_at,
        delisted_at,
        arrived_at

    from source

)

select * from renamed

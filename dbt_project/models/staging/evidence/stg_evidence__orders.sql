with

source as (

    select * from {{ source('evidence', 'orders') }}

),

renamed as (

    select
        -- ids
        order_id,
        brand_id,
        customer_id,
        load_id,

        -- strings
        channel,
        product_lifecycle,

        -- numerics
        amount as order_amount,
        currency as order_currency,

        -- dates
        business_date,

        -- timestamps
        ordered_at,
        arrived_at

    from source

)

select * from renamed

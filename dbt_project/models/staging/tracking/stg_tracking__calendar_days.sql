with

source as (

    select * from {{ source('tracking', 'business_calendar') }}

),

renamed as (

    select
        -- ids
        region,

        -- strings
        holiday_name,
        calendar_source,

        -- booleans
        is_working_day,
        is_makeup_working_day,
        is_provisional,

        -- dates
        calendar_date,

        -- timestamps
        loaded_at

    from source

)

select * from renamed

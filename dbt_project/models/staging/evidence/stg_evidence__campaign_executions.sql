with

source as (

    select * from {{ source('evidence', 'campaign_executions') }}

),

renamed as (

    select
        -- ids
        campaign_id,
        brand_id,
        load_id,

        -- strings
        campaign_type,
        status as campaign_status,

        -- numerics
        reach,

        -- booleans
        status = 'completed' as is_completed,

        -- dates
        business_date,

        -- timestamps
        planned_start_at,
        planned_end_at,
        actual_start_at,
        actual_end_at,
        arrived_at

    from source

)

select * from renamed

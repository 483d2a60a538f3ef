with

source as (

    select * from {{ source('evidence', 'evidence_loads') }}

),

renamed as (

    select
        -- ids
        load_id,

        -- strings
        feed,
        file_path,
        content_hash,
        status as load_status,
        triggered_by,

        -- numerics
        rows_in_file,
        rows_loaded,
        rows_duplicate,
        rows_quarantined,

        -- booleans
        status = 'loaded' as is_loaded,

        -- dates
        min_business_date,
        max_business_date,

        -- timestamps
        arrived_at,
        started_at,
        finished_at

    from source

)

select * from renamed

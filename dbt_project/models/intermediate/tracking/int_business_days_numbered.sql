{{ config(materialized='table') }}
with

calendar_days as (

    select * from {{ ref('stg_tracking__calendar_days') }}
    where region = 'CN'

),

numbered as (

    select
        calendar_date,
        is_working_day,
        is_makeup_working_day,
        holiday_name,
        is_provisional,
        count(*) filter (where is_working_day) over (
            order by calendar_date rows between unbounded preceding and current row
        ) as business_day_number

    from calendar_days

)

select * from numbered

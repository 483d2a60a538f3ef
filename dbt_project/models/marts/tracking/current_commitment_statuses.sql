{{ config(materialized='view') }}

with

statuses as (

    select * from {{ ref('commitment_statuses') }}

),

latest as (

    select max(as_of_date) as as_of_date from statuses

),

current_statuses as (

    select
        statuses.*,
        statuses.as_of_date::timestamp as status_as_of

    from statuses
    inner join latest
        on latest.as_of_date = statuses.as_of_date

)

select * from current_statuses

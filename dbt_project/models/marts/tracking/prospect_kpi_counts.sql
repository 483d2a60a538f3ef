{{
    config(
        materialized='incremental',
        unique_key='brand_month_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ analyze_when_changed() }}"
    )
}}
{#
    The counts behind prospect_kpis, per brand and month, kept by difference so that a day's run
    reads the day's customers, not every customer-month.

    A customer's contribution to the KPIs depends only on their own active months: which months
    (active, new, retained, reactivated, and the dormancy that starts 6 months after an active
    month and ends at 24 months or at the next active month) and whether they ordered twice
    (repeat). An incremental run takes the customers with customer-months that changed since
    the orders already counted (`last_arrived_at` past the table's latest, the watermark),
    subtracts what they contributed then (their customer-months as they were at the watermark:
    the ones that existed, `first_arrived_at`, and were repeat, `repeat_arrived_at`) and adds
    what they contribute now. Orders and GMV add the orders that arrived since the watermark.
    `dormant_change` is the net number of dormancies that start (+) or end (-) in the month,
    also for months after the brand's latest orders; prospect_kpis sums it up to each month.
    A full refresh counts every customer-month at once and gives the same rows.
#}
-- depends_on: {{ ref('stg_evidence__orders') }}
with

customer_months as not materialized (

    -- read where it is used, through the indexes: a CTE used twice is otherwise materialized,
    -- which reads the whole table (tens of millions of rows by December) on every run
    select * from {{ ref('customer_months') }}

),

{% if is_incremental() %}
{% set counted_through = incremental_watermark('last_arrived_at') %}
changed_customers as (

    select distinct brand_id, customer_id
    from customer_months
    where last_arrived_at > {{ counted_through }}

),

customer_rows as (

    -- each changed customer's customer-months, through the index on brand and customer
    select customer_history.*
    from changed_customers
    cross join lateral (
        select *
        from customer_months
        where customer_months.brand_id = changed_customers.brand_id
            and customer_months.customer_id = changed_customers.customer_id
    ) as customer_history

),

counted_rows as (

    -- what the changed customers contribute now (+1) and contributed at the watermark (-1)
    select brand_id, customer_id, order_month, order_count >= 2 as is_repeat, last_arrived_at, 1 as sign
    from customer_rows
    union all
    select
        brand_id,
        customer_id,
        order_month,
        coalesce(repeat_arrived_at <= {{ counted_through }}, false) as is_repeat,
        null::timestamptz as last_arrived_at,
        -1 as sign
    from customer_rows
    where first_arrived_at <= {{ counted_through }}

),

arrived_orders as (

    -- the orders customer_months took in since the watermark: arrived after it, up to its latest
    select
        brand_id,
        date_trunc('month', business_date)::date as kpi_month,
        count(*) as order_count,
        sum(order_amount) as gmv
    from {{ ref('stg_evidence__orders') }}
    where arrived_at > {{ counted_through }}
        and arrived_at <= (select max(last_arrived_at) from customer_rows)
    group by 1, 2

),
{% else %}
counted_rows as (

    select brand_id, customer_id, order_month, order_count >= 2 as is_repeat, last_arrived_at, 1 as sign
    from customer_months

),

arrived_orders as (

    select brand_id, order_month as kpi_month, sum(order_count) as order_count, sum(order_amount) as gmv
    from customer_months
    group by 1, 2

),
{% endif %}

sequenced as (

    -- each customer-month with the customer's previous and next active month (now, or then)
    select
        brand_id,
        order_month,
        is_repeat,
        last_arrived_at,
        sign,
        lag(order_month) over customer_history as previous_order_month,
        lead(order_month) over customer_history as next_order_month

    from counted_rows
    window customer_history as (partition by sign, brand_id, customer_id order by order_month)

),

active as (

    select
        brand_id,
        order_month as kpi_month,
        sum(sign) as active_customers,
        -- a customer's first month is the one without a previous one
        coalesce(sum(sign) filter (where previous_order_month is null), 0) as new_customers,
        coalesce(sum(sign) filter (
            where previous_order_month >= (order_month - interval '6 months')::date
        ), 0) as retained_customers,
        coalesce(sum(sign) filter (
            where previous_order_month < (order_month - interval '6 months')::date
        ), 0) as reactivated_customers,
        coalesce(sum(sign) filter (where is_repeat), 0) as repeat_customers,
        max(last_arrived_at) as last_arrived_at

    from sequenced
    group by brand_id, order_month

),

dormant_spans as (

    -- a customer is dormant in the months from 6 to 24 months after an active month, until
    -- their next active month: +1 from the span's first month, -1 after its last
    select
        brand_id,
        sign,
        (order_month + interval '6 months')::date as dormant_from,
        (least(
            order_month + interval '24 months',
            coalesce(next_order_month - interval '1 month', order_month + interval '24 months')
        ) + interval '1 month')::date as dormant_until

    from sequenced

),

dormant_changes as (

    select brand_id, kpi_month, sum(change) as dormant_change
    from (
        select brand_id, dormant_from as kpi_month, sign as change
        from dormant_spans
        where dormant_from < dormant_until
        union all
        select brand_id, dormant_until as kpi_month, -sign as change
        from dormant_spans
        where dormant_from < dormant_until
    ) as changes
    group by brand_id, kpi_month

),

counted as (

    select
        coalesce(active.brand_id, dormant_changes.brand_id, arrived_orders.brand_id) as brand_id,
        coalesce(active.kpi_month, dormant_changes.kpi_month, arrived_orders.kpi_month) as kpi_month,
        coalesce(active.active_customers, 0) as active_customers,
        coalesce(active.new_customers, 0) as new_customers,
        coalesce(active.retained_customers, 0) as retained_customers,
        coalesce(active.reactivated_customers, 0) as reactivated_customers,
        coalesce(active.repeat_customers, 0) as repeat_customers,
        coalesce(dormant_changes.dormant_change, 0) as dormant_change,
        coalesce(arrived_orders.order_count, 0) as order_count,
        coalesce(arrived_orders.gmv, 0) as gmv,
        active.last_arrived_at

    from active
    full outer join dormant_changes
        on dormant_changes.brand_id = active.brand_id
        and dormant_changes.kpi_month = active.kpi_month
    full outer join arrived_orders
        on arrived_orders.brand_id = coalesce(active.brand_id, dormant_changes.brand_id)
        and arrived_orders.kpi_month = coalesce(active.kpi_month, dormant_changes.kpi_month)

),

{% if is_incremental() %}
added as (

    -- the counts so far plus the difference
    select
        counted.brand_id,
        counted.kpi_month,
        counted.active_customers + coalesce(previous.active_customers, 0) as active_customers,
        counted.new_customers + coalesce(previous.new_customers, 0) as new_customers,
        counted.retained_customers + coalesce(previous.retained_customers, 0) as retained_customers,
        counted.reactivated_customers + coalesce(previous.reactivated_customers, 0) as reactivated_customers,
        counted.repeat_customers + coalesce(previous.repeat_customers, 0) as repeat_customers,
        counted.dormant_change + coalesce(previous.dormant_change, 0) as dormant_change,
        counted.order_count + coalesce(previous.order_count, 0) as order_count,
        counted.gmv + coalesce(previous.gmv, 0) as gmv,
        greatest(counted.last_arrived_at, previous.last_arrived_at) as last_arrived_at

    from counted
    left join {{ this }} as previous
        on previous.brand_id = counted.brand_id
        and previous.kpi_month = counted.kpi_month

),
{% else %}
added as (

    select * from counted

),
{% endif %}

final as (

    select
        (brand_id || '|' || to_char(kpi_month, 'YYYY-MM'))::text as brand_month_id,
        brand_id::text as brand_id,
        kpi_month::date as kpi_month,
        active_customers::integer as active_customers,
        new_customers::integer as new_customers,
        retained_customers::integer as retained_customers,
        reactivated_customers::integer as reactivated_customers,
        repeat_customers::integer as repeat_customers,
        dormant_change::integer as dormant_change,
        order_count::integer as order_count,
        gmv::numeric(20, 2) as gmv,
        last_arrived_at::timestamptz as last_arrived_at

    from added

)

select * from final

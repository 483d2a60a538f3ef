{{ config(materialized='table') }}
{#
    Potential-customer programme KPIs: one row per brand and month, from the brand's first
    month with orders to its latest. The counts come from prospect_kpi_counts (kept by
    difference, a day's customers at a time); this adds up the dormancies that started and
    ended by each month and derives the rates. A few thousand rows: rebuilt on every run.
#}
with

counts as (

    select * from {{ ref('prospect_kpi_counts') }}

),

brand_months as (

    select
        bounds.brand_id,
        month_series.month_start::date as kpi_month

    from (
        select brand_id, min(kpi_month) as first_month, max(kpi_month) as last_month
        from counts
        where active_customers > 0
        group by brand_id
    ) as bounds
    cross join lateral generate_series(bounds.first_month, bounds.last_month, interval '1 month')
        as month_series (month_start)

),

assembled as (

    select
        brand_months.brand_id,
        brand_months.kpi_month,
        coalesce(counts.active_customers, 0) as active_customers,
        coalesce(counts.new_customers, 0) as new_customers,
        coalesce(counts.retained_customers, 0) as retained_customers,
        coalesce(counts.reactivated_customers, 0) as reactivated_customers,
        -- dormancies start 6 months after an active month, so none starts before the first month
        sum(coalesce(counts.dormant_change, 0)) over brand_history as dormant_customers,
        coalesce(counts.repeat_customers, 0) as repeat_customers,
        round(counts.repeat_customers::numeric / nullif(counts.active_customers, 0), 4) as repeat_purchase_rate,
        coalesce(counts.order_count, 0) as order_count,
        coalesce(counts.gmv, 0) as gmv,
        max(counts.last_arrived_at) over brand_history as source_last_arrived_at

    from brand_months
    left join counts
        on counts.brand_id = brand_months.brand_id
        and counts.kpi_month = brand_months.kpi_month
    window brand_history as (partition by brand_months.brand_id order by brand_months.kpi_month)

),

final as (

    select
        (brand_id || '|' || to_char(kpi_month, 'YYYY-MM'))::text as brand_month_id,
        brand_id::text as brand_id,
        kpi_month::date as kpi_month,
        active_customers::integer as active_customers,
        new_customers::integer as new_customers,
        retained_customers::integer as retained_customers,
        reactivated_customers::integer as reactivated_customers,
        dormant_customers::integer as dormant_customers,
        repeat_customers::integer as repeat_customers,
        repeat_purchase_rate::numeric as repeat_purchase_rate,
        order_count::integer as order_count,
        gmv::numeric(20, 2) as gmv,
        source_last_arrived_at::timestamptz as source_last_arrived_at

    from assembled

)

select * from final

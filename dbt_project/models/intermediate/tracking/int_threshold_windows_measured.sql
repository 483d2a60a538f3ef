{{
    config(
        materialized='incremental',
        unique_key=['as_of_date', 'agreement_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ analyze_when_changed() }}"
    )
}}
{#
    The threshold window rule. For each window (week, month or quarter of the term) that
    has started by the as-of date, the metric is computed from the evidence known by then
    (delivered on or before the as-of date, known_by), and the window is judged once it has closed:
      in_progress        the window has not ended yet (the value so far is shown);
      insufficient_data  the sample is below min_sample, or the feed had not covered the
                         whole window yet;
      compliant          the metric meets the target (at_least: >=, at_most: <=);
      non_compliant      otherwise.
    Metrics: shipped_within_48h_share (shipments with shipped_at - paid_at <= 48 h / shipments
    paid in the window), delivered_within_72h_share, o2o_order_share (orders matching the
    commitment's evidence match, e.g. channel o2o_store / all orders), new_customers (first
    order ever in the window), repeat_purchase_rate (customers with 2+ orders in the window /
    customers), gmv (order amounts in the agreement's GMV target currency; a window whose
    orders are all in other currencies is insufficient_data, not 0), records_delivered
    (data deliveries).

    Orders and shipments are read from their daily roll-ups (arrival_date <= as_of_date is
    known_by there); only new_customers and repeat_purchase_rate, which count customers, read
    the orders themselves, and only for the windows that use them. A window closed more than
    var late_arrival_days (default 45) before the as-of date is frozen: evidence delivered
    later than that after its end no longer changes it.

    Incremental on (as_of_date, agreement_id), like commitment_statuses: the run's as-of dates
    are measured once, stored, and read by int_thresholds_budgeted and threshold_windows.
#}
with

listed as (

    select * from {{ ref('int_commitment_instances_listed') }}
    where kind = 'threshold'

),

shipment_days as (

    select * from {{ ref('int_shipments_rolled_up_daily') }}

),

order_days as (

    select * from {{ ref('int_orders_rolled_up_daily') }}

),

orders as (

    select * from {{ ref('stg_evidence__orders') }}

),

data_deliveries as (

    select * from {{ ref('stg_evidence__data_deliveries') }}

),

feeds as (

    select * from {{ ref('int_evidence_feeds_checked') }}

),

term_windows as (

    select
        listed.commitment_instance_id,
        listed.agreement_id,
        listed.as_of_date,
        listed.brand_id,
        listed.evidence_type,
        listed.evidence_match,
        listed.threshold_metric,
        listed.threshold_comparison,
        listed.threshold_target,
        listed.threshold_min_sample,
        listed.gmv_target_currency,
        greatest(window_series.window_start::date, listed.term_start_date) as window_start_date,
        least(
            (window_series.window_start + {{ period_interval('listed.threshold_window') }} - interval '1 day')::date,
            listed.term_end_date
        ) as window_end_date

    from listed
    cross join lateral generate_series(
        date_trunc(listed.threshold_window, listed.term_start_date),
        least(listed.term_end_date, listed.as_of_date)::timestamp,
        {{ period_interval('listed.threshold_window') }}
    ) as window_series (window_start)

),

windows as (

    -- evidence delivered by this day counts: the as-of date, or for a window closed long
    -- enough before it, the end of its late-arrival allowance
    select
        *,
        least(as_of_date, window_end_date + {{ var('late_arrival_days', 45) }}) as known_through_date

    from term_windows

),

shipment_facts as (

    select
        windows.commitment_instance_id,
        windows.as_of_date,
        windows.window_start_date,
        coalesce(sum(shipment_days.shipment_count), 0) as sample_size,
        coalesce(sum(case windows.threshold_metric
            when 'shipped_within_48h_share' then shipment_days.shipped_within_48h_count
            when 'delivered_within_72h_share' then shipment_days.delivered_within_72h_count
            else 0
        end), 0) as numerator

    from windows
    left join shipment_days
        on shipment_days.brand_id = windows.brand_id
        and shipment_days.business_date between windows.window_start_date and windows.window_end_date
        and shipment_days.arrival_date <= windows.known_through_date
    where windows.evidence_type = 'shipment'
    group by windows.commitment_instance_id, windows.as_of_date, windows.window_start_date

),

order_facts as (

    select
        windows.commitment_instance_id,
        windows.as_of_date,
        windows.window_start_date,
        sum(order_days.order_count) as order_count,
        coalesce(sum(order_days.order_count) filter (
            where jsonb_build_object(
                'channel', order_days.channel, 'product_lifecycle', order_days.product_lifecycle
            ) @> windows.evidence_match
        ), 0) as matching_order_count,
        coalesce(sum(order_days.order_count) filter (
            where order_days.order_currency = windows.gmv_target_currency
        ), 0) as target_currency_order_count,
        sum(order_days.order_amount) filter (
            where order_days.order_currency = windows.gmv_target_currency
        ) as gmv

    from windows
    inner join order_days
        on order_days.brand_id = windows.brand_id
        and order_days.business_date between windows.window_start_date and windows.window_end_date
        and order_days.arrival_date <= windows.known_through_date
    where windows.evidence_type = 'order'
    group by windows.commitment_instance_id, windows.as_of_date, windows.window_start_date

),

customer_windows as (

    -- the windows of the metrics that count customers: only these read the orders themselves
    select * from windows
    where evidence_type = 'order' and threshold_metric in ('new_customers', 'repeat_purchase_rate')

),

customer_firsts as (

    -- each customer's first known order with the brand, for the new_customers metric only
    select
        order_brands.brand_id,
        order_brands.known_through_date,
        orders.customer_id,
        min(orders.business_date) as first_order_date

    from (
        select distinct brand_id, known_through_date
        from customer_windows
        where threshold_metric = 'new_customers'
    ) as order_brands
    inner join orders
        on orders.brand_id = order_brands.brand_id
        and {{ known_by('orders.arrived_at', 'order_brands.known_through_date') }}
    group by order_brands.brand_id, order_brands.known_through_date, orders.customer_id

),

customer_orders as (

    select
        customer_windows.commitment_instance_id,
        customer_windows.as_of_date,
        customer_windows.window_start_date,
        orders.customer_id,
        count(*) as order_count,
        bool_and(coalesce(customer_firsts.first_order_date >= customer_windows.window_start_date, false))
            as is_new_customer

    from customer_windows
    inner join orders
        on orders.brand_id = customer_windows.brand_id
        and orders.business_date between customer_windows.window_start_date and customer_windows.window_end_date
        and {{ known_by('orders.arrived_at', 'customer_windows.known_through_date') }}
    left join customer_firsts
        on customer_firsts.brand_id = customer_windows.brand_id
        and customer_firsts.known_through_date = customer_windows.known_through_date
        and customer_firsts.customer_id = orders.customer_id
    group by customer_windows.commitment_instance_id, customer_windows.as_of_date,
        customer_windows.window_start_date, orders.customer_id

),

customer_facts as (

    select
        commitment_instance_id,
        as_of_date,
        window_start_date,
        count(*) as customer_count,
        count(*) filter (where order_count >= 2) as repeat_customer_count,
        count(*) filter (where is_new_customer) as new_customer_count

    from customer_orders
    group by commitment_instance_id, as_of_date, window_start_date

),

delivery_facts as (

    select
        windows.commitment_instance_id,
        windows.as_of_date,
        windows.window_start_date,
        count(data_deliveries.data_delivery_id) as delivery_count,
        coalesce(sum(data_deliveries.records_delivered), 0) as records_delivered

    from windows
    left join data_deliveries
        on data_deliveries.brand_id = windows.brand_id
        and data_deliveries.business_date between windows.window_start_date and windows.window_end_date
        and {{ known_by('data_deliveries.arrived_at', 'windows.known_through_date') }}
    where windows.evidence_type = 'data_delivery'
    group by windows.commitment_instance_id, windows.as_of_date, windows.window_start_date

),

measured as (

    select
        windows.commitment_instance_id,
        windows.agreement_id,
        windows.as_of_date,
        windows.threshold_metric,
        windows.threshold_comparison,
        windows.threshold_target,
        windows.threshold_min_sample,
        windows.window_start_date,
        windows.window_end_date,
        case windows.threshold_metric
            when 'shipped_within_48h_share' then shipment_facts.sample_size
            when 'delivered_within_72h_share' then shipment_facts.sample_size
            when 'o2o_order_share' then coalesce(order_facts.order_count, 0)
            when 'gmv' then coalesce(order_facts.order_count, 0)
            when 'new_customers' then coalesce(order_facts.order_count, 0)
            when 'repeat_purchase_rate' then coalesce(customer_facts.customer_count, 0)
            when 'records_delivered' then delivery_facts.delivery_count
        end as sample_size,
        case windows.threshold_metric
            when 'shipped_within_48h_share'
                then shipment_facts.numerator::numeric / nullif(shipment_facts.sample_size, 0)
            when 'delivered_within_72h_share'
                then shipment_facts.numerator::numeric / nullif(shipment_facts.sample_size, 0)
            when 'o2o_order_share'
                then order_facts.matching_order_count::numeric / nullif(order_facts.order_count, 0)
            -- in the agreement's GMV target currency; orders, none of them in it: unknown
            when 'gmv' then case
                when order_facts.target_currency_order_count = 0 then null
                else coalesce(order_facts.gmv, 0)
            end
            when 'new_customers' then coalesce(customer_facts.new_customer_count, 0)
            when 'repeat_purchase_rate'
                then customer_facts.repeat_customer_count::numeric / nullif(customer_facts.customer_count, 0)
            when 'records_delivered' then delivery_facts.records_delivered
        end as metric_value,
        feeds.covered_through_date

    from windows
    left join shipment_facts
        on shipment_facts.commitment_instance_id = windows.commitment_instance_id
        and shipment_facts.as_of_date = windows.as_of_date
        and shipment_facts.window_start_date = windows.window_start_date
    left join order_facts
        on order_facts.commitment_instance_id = windows.commitment_instance_id
        and order_facts.as_of_date = windows.as_of_date
        and order_facts.window_start_date = windows.window_start_date
    left join customer_facts
        on customer_facts.commitment_instance_id = windows.commitment_instance_id
        and customer_facts.as_of_date = windows.as_of_date
        and customer_facts.window_start_date = windows.window_start_date
    left join delivery_facts
        on delivery_facts.commitment_instance_id = windows.commitment_instance_id
        and delivery_facts.as_of_date = windows.as_of_date
        and delivery_facts.window_start_date = windows.window_start_date
    left join feeds
        on feeds.evidence_type = windows.evidence_type
        and feeds.as_of_date = windows.as_of_date

),

judged as (

    select
        commitment_instance_id,
        agreement_id,
        as_of_date,
        window_start_date,
        window_end_date,
        threshold_metric,
        threshold_comparison,
        threshold_target,
        threshold_min_sample,
        coalesce(sample_size, 0) as sample_size,
        round(metric_value, 6) as metric_value,
        case
            when as_of_date <= window_end_date then 'in_progress'
            when coalesce(covered_through_date < window_end_date, true) then 'insufficient_data'
            when coalesce(sample_size, 0) < threshold_min_sample or metric_value is null then 'insufficient_data'
            when threshold_comparison = 'at_least' and metric_value >= threshold_target then 'compliant'
            when threshold_comparison = 'at_most' and metric_value <= threshold_target then 'compliant'
            else 'non_compliant'
        end as window_status

    from measured

)

select * from judged

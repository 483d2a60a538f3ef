{#
    Evidence items that prove a deliverable, recurring or quota commitment, from every feed
    except orders and shipments (those feed threshold metrics). `attributes` holds the
    fields a commitment's `evidence.match` is compared with (`attributes @> match`).
#}
with

campaign_executions as (

    select * from {{ ref('stg_evidence__campaign_executions') }}
    where is_completed

),

channel_listings as (

    select * from {{ ref('stg_evidence__channel_listings') }}

),

data_deliveries as (

    select * from {{ ref('stg_evidence__data_deliveries') }}

),

attestations as (

    select * from {{ ref('stg_evidence__attestations') }}

),

unioned as (

    select
        'campaign_execution' as evidence_type,
        campaign_id as evidence_id,
        brand_id,
        null::text as agreement_id,
        null::text as commitment_id,
        jsonb_build_object('campaign_type', campaign_type, 'status', campaign_status) as attributes,
        business_date as evidence_date,
        business_date as evidence_period_date,
        actual_start_at as evidence_at,
        arrived_at

    from campaign_executions

    union all

    select
        'channel_listing' as evidence_type,
        listing_id as evidence_id,
        brand_id,
        null::text as agreement_id,
        null::text as commitment_id,
        jsonb_strip_nulls(jsonb_build_object(
            'retail_format', retail_format, 'channel', channel,
            'collection_id', collection_id, 'sku_id', sku_id
        )) as attributes,
        business_date as evidence_date,
        business_date as evidence_period_date,
        listed_at as evidence_at,
        arrived_at

    from channel_listings

    union all

    select
        'data_delivery' as evidence_type,
        data_delivery_id as evidence_id,
        brand_id,
        null::text as agreement_id,
        null::text as commitment_id,
        jsonb_build_object('deliverable_type', deliverable_type) as attributes,
        business_date as evidence_date,
        -- a delivery belongs to the period it covers, whenever it was handed over
        period_start_date as evidence_period_date,
        delivered_at as evidence_at,
        arrived_at

    from data_deliveries

    union all

    select
        'attestation' as evidence_type,
        attestation_id as evidence_id,
        null::text as brand_id,
        agreement_id,
        commitment_id,
        '{}'::jsonb as attributes,
        business_date as evidence_date,
        business_date as evidence_period_date,
        attested_at as evidence_at,
        arrived_at

    from attestations

)

select * from unioned

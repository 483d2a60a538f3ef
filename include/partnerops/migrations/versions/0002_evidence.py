"""Raw tables for evidence of delivery: one per feed, the load manifest and the row quarantine.

Every evidence row carries, besides its feed's fields:
- `business_date`: the date the event belongs to, in the feed time zone (`settings.FEED_TIMEZONE`);
- `arrived_at`: when the row became known, i.e. the delivery timestamp of the feed file it
  first arrived in (a row redelivered later keeps its first arrival); "as known on date X"
  filters on it;
- `load_id`: the row of `raw.evidence_loads` that loaded it.

Natural keys are the primary keys, so a row delivered again is recognised as the same row
(the loader merges with `on conflict do nothing`: the first arrival wins). `orders` and
`shipments` are partitioned by business month; the loader creates monthly partitions on
demand, and the default partition catches anything else. Their `order_id` uses the "C"
collation: byte order, the same order as the databases' C.UTF-8, but much cheaper to compare
when the primary key is checked for every merged row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- One row per feed file per load attempt that committed. Counts always add up.
    create table raw.evidence_loads (
        load_id           bigserial primary key,
        feed              text not null check (feed in ('orders', 'shipments', 'campaign_executions',
                              'channel_listings', 'data_deliveries', 'attestations')),
        file_path         text not null,
        content_hash      text not null,
        arrived_at        timestamptz not null,
        rows_in_file      integer not null default 0,
        rows_loaded       integer not null default 0,
        rows_duplicate    integer not null default 0,
        rows_quarantined  integer not null default 0,
        min_business_date date,
        max_business_date date,
        triggered_by      text not null default 'cli',
        started_at        timestamptz not null default now(),
        finished_at       timestamptz,
        status            text not null check (status in ('loaded', 'rejected')),
        check (rows_in_file = rows_loaded + rows_duplicate + rows_quarantined),
        check (min_business_date <= max_business_date)
    );
    create index evidence_loads_by_feed on raw.evidence_loads (feed, arrived_at);
    create index evidence_loads_by_hash on raw.evidence_loads (content_hash);

    -- One row per rejected input line: where it was, the first field at fault, and why.
    create table raw.evidence_quarantine (
        load_id     bigint not null references raw.evidence_loads on delete cascade,
        file_path   text not null,
        line_no     integer not null,
        field       text,
        reason      text not null,
        raw_line    text,
        primary key (load_id, line_no)
    );

    -- Orders, partitioned by business month (the date of ordered_at in the feed time zone).
    create table raw.orders (
        order_id          text collate "C" not null,
        brand_id          text not null,
        customer_id       text not null,
        ordered_at        timestamptz not null,
        amount            numeric(14, 2) not null,
        currency          char(3) not null,
        channel           text not null check (channel in ('online', 'o2o_store', 'outlet')),
        product_lifecycle text not null
                          check (product_lifecycle in ('new', 'in_season', 'off_season', 'clearance')),
        business_date     date not null,
        arrived_at        timestamptz not null,
        load_id           bigint not null,
        primary key (order_id, business_date)
    ) partition by range (business_date);
    create table raw.orders_default partition of raw.orders default;

    -- Shipments, one per order, partitioned by business month (the date of paid_at in the feed time zone).
    -- delivered_at is empty when the parcel was not delivered (lost, refused) when reported.
    create table raw.shipments (
        order_id      text collate "C" not null,
        brand_id      text not null,
        paid_at       timestamptz not null,
        shipped_at    timestamptz not null,
        delivered_at  timestamptz,
        carrier       text not null,
        warehouse_id  text not null,
        business_date date not null,
        arrived_at    timestamptz not null,
        load_id       bigint not null,
        primary key (order_id, business_date)
    ) partition by range (business_date);
    create table raw.shipments_default partition of raw.shipments default;

    -- Marketing campaigns, reported once they ended or were cancelled.
    -- business_date: the date of actual_start_at, or of planned_start_at for a cancelled campaign.
    create table raw.campaign_executions (
        campaign_id      text primary key,
        brand_id         text not null,
        campaign_type    text not null check (campaign_type in ('new_product_launch', 'super_brand_day',
                             'celebrity', 'brand_marketing', 'traffic')),
        planned_start_at timestamptz not null,
        planned_end_at   timestamptz not null,
        actual_start_at  timestamptz,
        actual_end_at    timestamptz,
        reach            bigint check (reach >= 0),
        status           text not null check (status in ('completed', 'cancelled')),
        business_date    date not null,
        arrived_at       timestamptz not null,
        load_id          bigint not null,
        check (status = 'cancelled' or actual_start_at is not null)
    );

    -- Listings of a collection or a SKU in a channel and retail format.
    -- business_date: the date of listed_at; delisted_at is empty while the listing is open-ended.
    create table raw.channel_listings (
        listing_id    text primary key,
        brand_id      text not null,
        collection_id text,
        sku_id        text,
        retail_format text not null check (retail_format in ('new', 'in_season', 'off_season', 'clearance')),
        channel       text not null check (channel in ('online', 'o2o_store', 'outlet')),
        listed_at     timestamptz not null,
        delisted_at   timestamptz,
        business_date date not null,
        arrived_at    timestamptz not null,
        load_id       bigint not null,
        check (collection_id is not null or sku_id is not null)
    );

    -- Data handed over to brands: one row per brand, deliverable type and period.
    -- business_date: the date of delivered_at.
    create table raw.data_deliveries (
        brand_id          text not null,
        deliverable_type  text not null check (deliverable_type in
                              ('prospect_segment', 'monthly_data_report', 'audience_sync')),
        period_start_date date not null,
        period_end_date   date not null,
        delivered_at      timestamptz not null,
        records_delivered bigint not null check (records_delivered >= 0),
        business_date     date not null,
        arrived_at        timestamptz not null,
        load_id           bigint not null,
        primary key (brand_id, deliverable_type, period_start_date),
        check (period_start_date <= period_end_date)
    );

    -- Attestations for commitments that no system records. business_date: the date of attested_at.
    create table raw.attestations (
        agreement_id  text not null,
        commitment_id text not null,
        attested_by   text not null,
        attested_at   timestamptz not null,
        note          text,
        reference     text,
        business_date date not null,
        arrived_at    timestamptz not null,
        load_id       bigint not null,
        primary key (agreement_id, commitment_id, attested_by, attested_at)
    );
    """)


def downgrade() -> None:
    op.execute("""
    drop table raw.attestations;
    drop table raw.data_deliveries;
    drop table raw.channel_listings;
    drop table raw.campaign_executions;
    drop table raw.shipments;
    drop table raw.orders;
    drop table raw.evidence_quarantine;
    drop table raw.evidence_loads;
    """)

"""Orders and shipments are indexed by arrival (a BRIN index on `arrived_at`); archived partitions are recorded.

The daily roll-ups of orders and shipments (dbt models `int_orders_rolled_up_daily`,
`int_shipments_rolled_up_daily`) read only the rows that arrived since their previous run.
Rows are appended file by file, in delivery order, so a block-range index finds them by
arrival in a few pages and costs the loader next to nothing (one summary per 128 pages).

`raw.evidence_archives` records each monthly partition of orders or shipments that retention
archived (`partnerops archive`, partnerops.evidence.retention): where its file is and how many
rows it held. Partitions are not created again for an archived month.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

from partnerops.roles import role_name

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create index orders_by_arrival on raw.orders using brin (arrived_at);
    create index shipments_by_arrival on raw.shipments using brin (arrived_at);

    create table raw.evidence_archives (
        partition_name text primary key,
        table_name     text not null,
        business_month date not null,
        row_count      bigint not null,
        file_path      text not null,
        archived_at    timestamptz not null default now()
    );
    """)
    # Like every raw table: the migrator's (migration 0008); the loader reads it to skip
    # archived months, dbt reads raw.
    op.execute(f"""
    alter table raw.evidence_archives owner to "{role_name('migrator')}";
    grant select on raw.evidence_archives to "{role_name('loader')}", "{role_name('transformer')}";
    """)


def downgrade() -> None:
    op.execute("drop table raw.evidence_archives; drop index raw.orders_by_arrival; "
               "drop index raw.shipments_by_arrival")

"""The load manifest records which path a file took: `fast` (COPY straight into the raw table) or `merge`.

A file whose rows are all new and all valid is copied straight into its raw table inside its
transaction (`fast`); any other file, and a file whose fast attempt met a duplicate, is staged
and merged with `insert ... on conflict do nothing` (`merge`, what every earlier load did).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    alter table raw.evidence_loads
        add column load_path text not null default 'merge' check (load_path in ('fast', 'merge'));
    """)


def downgrade() -> None:
    op.execute("alter table raw.evidence_loads drop column load_path")

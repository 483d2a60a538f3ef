"""Agreement versions record the day their terms take effect: `effective_from`.

Format v1's optional `effective_from` (default the version's `signed_date`). A version's
terms apply from this date whenever the version was taken in; rows taken in before this
revision get their signed date, and a row written without it reads as its signed date.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Intake always writes it; a row written without it (older writers) reads as its signed date.
    op.execute("""
    alter table raw.agreement_versions
        add column effective_from date,
        add constraint agreement_versions_effective_in_term
            check (effective_from between term_start and term_end or effective_from = signed_date);
    update raw.agreement_versions set effective_from = signed_date;
    comment on column raw.agreement_versions.effective_from is
        'The day this version''s terms take effect (format v1 effective_from; empty: signed_date).';
    """)


def downgrade() -> None:
    op.execute("alter table raw.agreement_versions drop column effective_from")

"""Sources of the commitment-tracking models besides agreements and evidence.

- `raw.business_calendar`: one row per date and region, filled from the `holidays` package
  by `partnerops calendar` (and kept filled by `partnerops db upgrade` and intake for the
  years of the current agreements' terms). A year whose official schedule (the State
  Council's holidays with make-up working days, 调休) is not yet in the package is filled
  from weekends and the statutory holidays alone and marked `is_provisional`.
- `raw.commitment_decisions`: account managers' decisions on commitment instances (waive,
  dispute, accept a late delivery). A later issue fills it from the Airflow UI; the dbt
  models read it already. `instance_key` empty means the decision covers every instance.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table raw.business_calendar (
        region                text not null default 'CN',
        calendar_date         date not null,
        is_working_day        boolean not null,
        is_makeup_working_day boolean not null default false,
        holiday_name          text,
        is_provisional        boolean not null,
        calendar_source       text not null,
        loaded_at             timestamptz not null default now(),
        primary key (region, calendar_date),
        check (not (is_makeup_working_day and not is_working_day))
    );

    create table raw.commitment_decisions (
        decision_id       bigserial primary key,
        agreement_id      text not null,
        commitment_id     text not null,
        -- 'term' for deliverable, quota and threshold commitments; the period's first day
        -- (YYYY-MM-DD) for an instance of a recurring one; empty for every instance.
        instance_key      text,
        decision          text not null check (decision in ('waive', 'dispute', 'accept_late')),
        comment           text not null,
        decided_by        text not null,
        decided_at        timestamptz not null,
        recorded_at       timestamptz not null default now()
    );
    create index commitment_decisions_by_commitment
        on raw.commitment_decisions (agreement_id, commitment_id, recorded_at);
    """)


def downgrade() -> None:
    op.execute("""
    drop table raw.commitment_decisions;
    drop table raw.business_calendar;
    """)

"""The SLA alert ledger: every alert ever raised, every digest, and every delivery attempt.

- `raw.alerts`: one row per alert key (agreement, commitment, instance, rule), ever. The
  unique key is what makes an alert go out once: runs insert with `on conflict do
  nothing`, so re-runs, retries and backfills find the alert already there.
- `raw.alert_digests`: one row per recipient and date (the optional daily digest).
- `raw.alert_deliveries`: one row per delivery attempt, per channel and recipient. An
  alert (or digest) is `sent` only when every one of its targets has a `sent` attempt;
  a target that failed is tried again on the next run, up to the maximum attempts.

Alerts write only these tables; they never write upstream (agreements, evidence, marts).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table raw.alerts (
        alert_id      bigserial primary key,
        agreement_id  text not null,
        commitment_id text not null,
        instance_key  text not null,
        rule          text not null check (rule in (
                          'at_risk', 'breached', 'due_in_7_days', 'due_today', 'breach_open_7_days',
                          'burn_rate', 'escalated')),
        -- the as-of date of the run that raised the alert
        as_of_date    date not null,
        status        text not null default 'pending'
                      check (status in ('pending', 'sent', 'failed', 'stale')),
        is_escalated  boolean not null default false,
        -- the delivery targets fixed when the alert was raised: [{"channel": ..., "recipient": ...}]
        recipients    jsonb not null,
        -- everything the message templates read (agreement, brand, commitment, status, ...)
        payload       jsonb not null,
        created_at    timestamptz not null default now(),
        sent_at       timestamptz,
        unique (agreement_id, commitment_id, instance_key, rule)
    );
    create index alerts_unsent on raw.alerts (alert_id) where status = 'pending';

    create table raw.alert_digests (
        digest_id   bigserial primary key,
        recipient   text not null,
        digest_date date not null,
        status      text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
        alert_ids   bigint[] not null,
        payload     jsonb not null,
        created_at  timestamptz not null default now(),
        sent_at     timestamptz,
        unique (recipient, digest_date)
    );

    create table raw.alert_deliveries (
        delivery_id  bigserial primary key,
        alert_id     bigint references raw.alerts,
        digest_id    bigint references raw.alert_digests,
        channel      text not null check (channel in ('email', 'webhook')),
        recipient    text not null,
        attempt_no   integer not null check (attempt_no >= 1),
        attempted_at timestamptz not null default now(),
        status       text not null check (status in ('sent', 'failed')),
        error        text,
        check (num_nonnulls(alert_id, digest_id) = 1),
        unique (alert_id, channel, recipient, attempt_no),
        unique (digest_id, channel, recipient, attempt_no)
    );
    -- A target is delivered at most once: a second 'sent' row for it cannot be recorded.
    create unique index alert_deliveries_sent_once
        on raw.alert_deliveries (alert_id, channel, recipient) where status = 'sent' and alert_id is not null;
    create unique index alert_digest_deliveries_sent_once
        on raw.alert_deliveries (digest_id, channel, recipient) where status = 'sent' and digest_id is not null;
    """)


def downgrade() -> None:
    op.execute("""
    drop table raw.alert_deliveries;
    drop table raw.alert_digests;
    drop table raw.alerts;
    """)

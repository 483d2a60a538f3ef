"""Raw tables for signed agreements, their commitments, and the intake ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create schema if not exists raw;

    -- One row per run of `partnerops intake` or the agreements_intake DAG.
    create table raw.intake_runs (
        intake_run_id   bigserial primary key,
        triggered_by    text not null,
        started_at      timestamptz not null default now(),
        finished_at     timestamptz,
        files_loaded    integer not null default 0,
        files_unchanged integer not null default 0,
        files_quarantined integer not null default 0
    );

    -- One row per agreement version; amendments add versions, none is ever overwritten.
    create table raw.agreement_versions (
        agreement_id          text not null,
        version               integer not null check (version >= 1),
        is_current            boolean not null default false,
        title                 text,
        amendment_note        text,
        brand_id              text not null,
        brand_name            text not null,
        group_id              text not null,
        group_name            text not null,
        signed_date           date not null,
        term_start            date not null,
        term_end              date not null,
        timezone              text not null,
        account_manager_name  text not null,
        account_manager_email text not null,
        escalation_contacts   jsonb not null default '[]',
        gmv_target_amount     numeric(20, 2) not null,
        gmv_target_currency   char(3) not null,
        document              jsonb not null,
        content_hash          text not null,
        source_file           text not null,
        intake_run_id         bigint not null references raw.intake_runs,
        loaded_at             timestamptz not null default now(),
        primary key (agreement_id, version),
        check (term_start <= term_end)
    );
    create unique index agreement_versions_one_current
        on raw.agreement_versions (agreement_id) where is_current;

    -- One row per commitment of an agreement version, flattened for dbt staging.
    create table raw.commitments (
        agreement_id     text not null,
        version          integer not null,
        commitment_id    text not null,
        title            text not null,
        description      text,
        pillar           text not null,
        service          text not null,
        obligor          text not null check (obligor in ('platform', 'brand')),
        beneficiary      text not null check (beneficiary in ('platform', 'brand')),
        kind             text not null check (kind in ('deliverable', 'recurring', 'quota', 'threshold')),
        opens_date       date,
        due_date         date,
        recurrence_every text,
        recurrence_due_after_days          integer,
        recurrence_due_after_business_days integer,
        recurrence_starts_date date,
        recurrence_ends_date   date,
        quota_target     integer,
        quota_pacing     text,
        quota_tolerance  numeric,
        threshold_metric     text,
        threshold_comparison text,
        threshold_target     numeric,
        threshold_window     text,
        threshold_min_sample integer,
        threshold_error_budget integer,
        evidence_type    text not null,
        evidence_match   jsonb not null default '{}',
        grace_days           integer not null default 0,
        grace_business_days  integer not null default 0,
        warning_elapsed_share numeric,
        warning_business_days_before_due integer,
        depends_on_commitment_id text,
        weight           numeric not null,
        remedy           text,
        primary key (agreement_id, version, commitment_id),
        foreign key (agreement_id, version) references raw.agreement_versions on delete cascade
    );

    -- One row per input file per intake run: every file ends loaded, unchanged or quarantined.
    create table raw.intake_files (
        intake_run_id bigint not null references raw.intake_runs,
        file_path     text not null,
        content_hash  text not null,
        outcome       text not null check (outcome in ('loaded', 'unchanged', 'quarantined')),
        agreement_id  text,
        version       integer,
        processed_at  timestamptz not null default now(),
        primary key (intake_run_id, file_path)
    );

    -- One row per distinct rejected document (by content), and one per reason it was rejected.
    create table raw.quarantined_documents (
        content_hash        text primary key,
        source_file         text not null,
        set_aside_path      text not null,
        first_intake_run_id bigint not null references raw.intake_runs,
        last_intake_run_id  bigint not null references raw.intake_runs,
        quarantined_at      timestamptz not null default now()
    );
    create table raw.quarantine_reasons (
        content_hash text not null references raw.quarantined_documents on delete cascade,
        reason_no    integer not null,
        field_path   text not null,
        line_no      integer,
        message      text not null,
        primary key (content_hash, reason_no)
    );
    """)


def downgrade() -> None:
    op.execute("""
    drop table raw.quarantine_reasons;
    drop table raw.quarantined_documents;
    drop table raw.intake_files;
    drop table raw.commitments;
    drop table raw.agreement_versions;
    drop table raw.intake_runs;
    """)

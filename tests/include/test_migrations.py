"""`partnerops db upgrade`: from an empty database to the head revision, and idempotent after that."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from partnerops.db import with_database
from partnerops.migrations import current_revision, head_revision, upgrade


def execute(url: str, sql: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture
def empty_db_url(session_db_url: str) -> Iterator[str]:
    """A brand-new database on the test server, with no migrations applied; dropped afterwards."""
    name = f"partnerops_mig_{uuid.uuid4().hex[:12]}"
    execute(session_db_url, f'create database "{name}"')
    yield with_database(session_db_url, name)
    execute(session_db_url, f'drop database if exists "{name}" with (force)')


def db_upgrade(url: str, tmp_path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_PARTNEROPS_DB"}
    env.update(PARTNEROPS_DATABASE_URL=url, PARTNEROPS_DATA_DIR=str(tmp_path / "var"))
    return subprocess.run([sys.executable, "-m", "partnerops.cli", "db", "upgrade"], capture_output=True,
                          text=True, timeout=300, env=env)


def schema_shape(url: str) -> list[tuple]:
    """Every table and column of the project's schemas, with its type."""
    return execute(url, """select table_schema, table_name, column_name, data_type
                             from information_schema.columns
                            where table_schema not in ('pg_catalog', 'information_schema')
                            order by 1, 2, 3""")


def row_counts(url: str, tables: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return {t: execute(url, f'select count(*) from "{t[0]}"."{t[1]}"')[0][0] for t in sorted(tables)}


def test_db_upgrade_reaches_head_and_is_idempotent(empty_db_url: str, tmp_path) -> None:
    assert current_revision(empty_db_url) is None
    head = head_revision()

    first = db_upgrade(empty_db_url, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"database {empty_db_url} is at revision {head}" in first.stdout.splitlines()
    assert current_revision(empty_db_url) == head
    shape = schema_shape(empty_db_url)
    tables = {(s, t) for s, t, _, _ in shape}
    assert {("raw", "agreement_versions"), ("raw", "commitments"), ("raw", "quarantine_reasons")} <= tables
    # data written between upgrades survives the second one
    execute(empty_db_url, "insert into raw.intake_runs (triggered_by) values ('migration test')")
    rows = row_counts(empty_db_url, tables)

    second = db_upgrade(empty_db_url, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"database {empty_db_url} is at revision {head}" in second.stdout.splitlines()
    assert current_revision(empty_db_url) == head
    assert schema_shape(empty_db_url) == shape
    assert row_counts(empty_db_url, tables) == rows
    assert execute(empty_db_url, "select triggered_by from raw.intake_runs") == [("migration test",)]
    # the version table lives out of `public` (where Airflow keeps its own when sharing a database)
    assert execute(empty_db_url, "select count(*) from partnerops_meta.alembic_version") == [(1,)]
    assert execute(empty_db_url, "select to_regclass('public.alembic_version')") == [(None,)]


def test_an_old_version_table_in_public_is_moved_and_airflows_is_left_alone(empty_db_url: str, tmp_path) -> None:
    upgrade(empty_db_url, "0006")
    # a database migrated before the table moved: the revision sits in public.alembic_version
    execute(empty_db_url, "drop schema partnerops_meta cascade; "
                          "create table public.alembic_version (version_num varchar(32) primary key); "
                          "insert into public.alembic_version values ('0006')")
    assert current_revision(empty_db_url) is None
    result = db_upgrade(empty_db_url, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert current_revision(empty_db_url) == head_revision()
    assert execute(empty_db_url, "select to_regclass('public.alembic_version')") == [(None,)]
    # Airflow's own version table (a revision that is not the project's) stays where it is
    airflows = "5f2621c13b39"  # pragma: allowlist secret
    execute(empty_db_url, "create table public.alembic_version (version_num varchar(32) primary key); "
                          f"insert into public.alembic_version values ('{airflows}')")
    assert db_upgrade(empty_db_url, tmp_path).returncode == 0
    assert execute(empty_db_url, "select version_num from public.alembic_version") == [(airflows,)]


def test_intake_does_not_migrate_it_says_to_run_db_upgrade(empty_db_url: str, tmp_path) -> None:
    from partnerops.errors import UserError
    from partnerops.migrations import require_current

    with pytest.raises(UserError, match=r"has no partnerops schema.*Run `partnerops db upgrade`"):
        require_current(empty_db_url)
    upgrade(empty_db_url, "0006")
    with pytest.raises(UserError, match=rf"is at schema revision 0006; .* needs revision {head_revision()}"):
        require_current(empty_db_url)
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_PARTNEROPS_DB"}
    env.update(PARTNEROPS_DATABASE_URL=empty_db_url, PARTNEROPS_DATA_DIR=str(tmp_path / "var"))
    (tmp_path / "in").mkdir()
    result = subprocess.run([sys.executable, "-m", "partnerops.cli", "intake", str(tmp_path / "in")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "run `partnerops db upgrade`" in result.stderr.lower()
    assert current_revision(empty_db_url) == "0006", "intake migrated the database"
    upgrade(empty_db_url)
    require_current(empty_db_url)


def test_the_head_is_the_last_revision_file() -> None:
    from partnerops.migrations import MIGRATIONS_DIR

    files = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert files, "migrations live in include/partnerops/migrations/versions"
    assert files[-1].startswith(head_revision() + "_")


def test_a_url_migrations_cannot_use_is_a_plain_error(session_db_url: str, tmp_path) -> None:
    # psycopg2 accepts a keyword DSN, SQLAlchemy (under Alembic) does not: say so, without a traceback
    from urllib.parse import urlsplit

    parts = urlsplit(session_db_url)
    dsn = f"host={parts.hostname} port={parts.port or 5432} user={parts.username} dbname={parts.path[1:]}"
    result = db_upgrade(dsn, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "is not one the migrations can use" in result.stderr
    assert "postgresql://user:password@host:5432/database" in result.stderr


def test_versions_taken_in_before_effective_from_existed_take_effect_when_signed(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0005")
    execute(empty_db_url, """
        insert into raw.intake_runs (triggered_by) values ('test');
        insert into raw.agreement_versions (agreement_id, version, is_current, brand_id, brand_name, group_id,
               group_name, signed_date, term_start, term_end, timezone, account_manager_name, account_manager_email,
               gmv_target_amount, gmv_target_currency, document, content_hash, source_file, intake_run_id)
        select 'A', 1, true, 'B', 'Brand', 'G', 'Group', '2025-12-05', '2026-01-01', '2026-12-31', 'Asia/Shanghai',
               'Li Na', 'li.na@example.com', 1000, 'CNY', '{}', 'h', 'a.yaml', intake_run_id from raw.intake_runs""")
    upgrade(empty_db_url, "0006")
    assert execute(empty_db_url, "select effective_from::text from raw.agreement_versions") == [("2025-12-05",)]
    with pytest.raises(psycopg2.errors.CheckViolation):
        execute(empty_db_url, "update raw.agreement_versions set effective_from = '2027-01-01'")

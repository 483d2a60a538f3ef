"""Shared fixtures: a throwaway PostgreSQL database per test session, on the real server.

The server is the one in PARTNEROPS_TEST_ADMIN_URL (default: the machine's PostgreSQL at
127.0.0.1:5432 as root). The session's database is created with migrations applied, and
dropped at the end. `db_url` gives each test a clean slate by truncating the raw tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from partnerops.db import create_database, drop_database, with_database
from partnerops.migrations import upgrade

ADMIN_URL = os.environ.get("PARTNEROPS_TEST_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def session_db_url() -> Iterator[str]:
    name = f"partnerops_test_{uuid.uuid4().hex[:12]}"
    try:
        create_database(ADMIN_URL, name)
    except psycopg2.OperationalError as exc:
        pytest.exit(f"the test PostgreSQL at {ADMIN_URL} is not reachable: {exc}", returncode=3)
    url = with_database(ADMIN_URL, name)
    upgrade(url)
    yield url
    drop_database(ADMIN_URL, name)


def _truncate_all(url: str) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """select string_agg(format('%I.%I', schemaname, tablename), ', ')
                     from pg_tables where schemaname = 'raw'"""
            )
            tables = cur.fetchone()[0]
            if tables:
                cur.execute(f"truncate {tables} restart identity cascade")
    finally:
        conn.close()


@pytest.fixture
def db_url(session_db_url: str) -> str:
    """The session database, emptied of data before the test."""
    _truncate_all(session_db_url)
    return session_db_url


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """Point the project's data folder at a temporary one, and the database at the test one."""
    data = tmp_path / "var"
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(data))
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", db_url)
    monkeypatch.delenv("PARTNEROPS_AGREEMENTS_INBOX", raising=False)
    return data

"""Shared fixtures: a throwaway PostgreSQL database per test session, on a real server.

`admin_url` is the server for the whole run, resolved once (`partnerops.db.throwaway_server`):
PARTNEROPS_TEST_ADMIN_URL when set (it must answer), else the machine's PostgreSQL at
127.0.0.1:5432 as root, else an embedded PostgreSQL started for the run and stopped at its
end (also on Ctrl-C or SIGTERM). One line says which. Every throwaway database, the
integration tests' Airflow metadata databases included, is created there.

The session's database is created with migrations applied, and dropped at the end.
`db_url` gives each test a clean slate by truncating the raw tables.

Tests that need Airflow running for real (the `airflow_runtime` fixture) are marked
`scheduler`; `make test-fast` leaves them out.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import psycopg2
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from partnerops.db import create_database, drop_database, throwaway_server, with_database
from partnerops.errors import UserError
from partnerops.migrations import upgrade
from partnerops.settings import get_settings
from partnerops.tracking import build_manifest, manifest_path

REPO_ROOT = Path(__file__).resolve().parents[1]

# The property tests' budget: a bounded number of examples, no per-example deadline (the machine
# is shared, so timings are noisy). HYPOTHESIS_PROFILE=thorough tries many more.
hypothesis_settings.register_profile("partnerops", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
hypothesis_settings.register_profile("thorough", parent=hypothesis_settings.get_profile("partnerops"),
                                     max_examples=5000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "partnerops"))


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM ends the run like Ctrl-C does: fixtures are torn down, so servers stop and databases go.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "airflow_runtime" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.scheduler)


def _say(config: pytest.Config, line: str) -> None:
    """One line on the terminal, also while output is being captured."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write(f"\n{line}\n")


@pytest.fixture(scope="session")
def admin_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The server the run's throwaway databases are created on (see the module docstring)."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_server())
        except UserError as exc:
            pytest.exit(f"error: {exc}", returncode=3)
        _say(request.config, server.description)
        yield server.admin_url


@pytest.fixture(scope="session")
def session_db_url(admin_url: str) -> Iterator[str]:
    name = f"partnerops_test_{uuid.uuid4().hex[:12]}"
    create_database(admin_url, name)
    url = with_database(admin_url, name)
    upgrade(url)
    yield url
    drop_database(admin_url, name)


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dbt project's manifest, parsed once per run (`dbt parse` needs no database)."""
    settings = replace(get_settings(), data_dir=tmp_path_factory.mktemp("dbt_manifest"), database_url=None)
    return build_manifest(settings)


@pytest.fixture(scope="session")
def install_manifest(dbt_manifest: Path) -> Callable[[Path], Path]:
    """`install_manifest(data_dir)` puts the session's manifest where the DAG reads it for that data folder."""

    def install(data_dir: Path) -> Path:
        target = manifest_path(replace(get_settings(), data_dir=data_dir))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dbt_manifest, target)
        return target

    return install


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

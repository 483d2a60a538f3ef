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

In parallel (`pytest -n 2`, pytest-xdist; `make test` does this), each worker process has its
own session fixtures, so each gets its own throwaway databases. The server is resolved once,
by the controller, for all workers (one embedded server, not one per worker). Tests are handed
out a module at a time (`--dist loadscope`, set in pyproject.toml), so module fixtures (a dbt
build, a browser) are set up once; the Airflow tests (tests/integration, which share the
running Airflow and its migrated metadata template) go as one unit, first, since they take
longest.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import replace
from pathlib import Path

import psutil
import psycopg2
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from partnerops.db import create_database, drop_database, throwaway_server, with_database
from partnerops.errors import UserError
from partnerops.migrations import upgrade
from partnerops.roles import ROLE_PREFIX_ENV
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


#: Where the tests that use Airflow live: its fixtures are defined there (integration/conftest.py).
AIRFLOW_TESTS = "tests/integration/"
#: Airflow tests that start an Airflow of their own (not the shared `airflow_runtime`): each is
#: a unit of its own, so the other worker runs them while the shared one runs. Longest first.
OWN_AIRFLOW_TESTS = (
    "tests/integration/test_local_login.py",
    "tests/integration/test_no_passwords_in_logs.py",
)
#: How long an interrupted controller waits for what its workers started to stop.
WORKER_TEARDOWN_SECONDS = 180
#: How the controller hands the resolved server to its workers (`workerinput`).
WORKER_ADMIN_URL = "partnerops_admin_url"
WORKER_ROLE_PREFIX = "partnerops_role_prefix"


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _workers_tear_down_then_interrupt(signum, frame):
    """SIGTERM or Ctrl-C to the xdist controller: first let the workers tear down.

    Each worker ends its test and stops what its fixtures started (Airflow runs in sessions of
    its own, which a Ctrl-C does not reach); only then does the controller shut the workers
    down, which otherwise interrupts their teardown after a few seconds. Ctrl-C reached the
    workers already; SIGTERM is passed on to them.
    """
    workers = psutil.Process().children()
    started = []
    for worker in workers:
        with suppress(psutil.Error):
            started += worker.children(recursive=True)
            if signum == signal.SIGTERM:
                worker.send_signal(signal.SIGTERM)
    psutil.wait_procs(started, timeout=WORKER_TEARDOWN_SECONDS)
    raise KeyboardInterrupt


def _is_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("dsession")


@pytest.hookimpl(trylast=True)  # after xdist's, which makes this process the controller (or not)
def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM ends the run like Ctrl-C does: fixtures are torn down, so servers stop and databases go.
    if _is_controller(config):
        signal.signal(signal.SIGTERM, _workers_tear_down_then_interrupt)
        signal.signal(signal.SIGINT, _workers_tear_down_then_interrupt)
        config.pluginmanager.register(_SharedServer(), "partnerops_shared_server")
    else:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_AirflowFirst(), "partnerops_airflow_first")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "airflow_runtime" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.scheduler)


class _AirflowFirst:
    """`--dist loadscope` scheduling: a module at a time, the Airflow tests as one unit, handed out first."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):
        if config.getvalue("dist") != "loadscope":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class AirflowFirst(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                module = nodeid.split("::", 1)[0]
                if nodeid.startswith(AIRFLOW_TESTS) and module not in OWN_AIRFLOW_TESTS:
                    return AIRFLOW_TESTS
                return module

            def _assign_work_unit(self, node) -> None:
                for unit in (*reversed(OWN_AIRFLOW_TESTS), AIRFLOW_TESTS):  # the longest units first
                    if unit in self.workqueue:
                        self.workqueue.move_to_end(unit, last=False)
                super()._assign_work_unit(node)

        return AirflowFirst(config, log)


class _SharedServer:
    """In the xdist controller: the run's server, resolved once and handed to every worker."""

    def __init__(self) -> None:
        self.stack = ExitStack()
        self.url: str | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        try:
            server = self.stack.enter_context(throwaway_server())
        except UserError as exc:
            pytest.exit(f"error: {exc}", returncode=3)
        _say(session.config, server.description)
        self.url = server.admin_url
        self.role_prefix = _role_prefix()
        self.stack.callback(drop_run_leftovers, self.url, self.role_prefix)

    def pytest_configure_node(self, node) -> None:
        node.workerinput[WORKER_ADMIN_URL] = self.url
        node.workerinput[WORKER_ROLE_PREFIX] = self.role_prefix

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stack.close()


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
    """The server the run's throwaway databases are created on (see the module docstring).

    The database roles the migrations create are the server's, not a database's: the run
    names them with a prefix of its own (`PARTNEROPS_DB_ROLE_PREFIX`, also seen by the
    processes it starts), so parallel runs do not share them, and drops them at the end.
    """
    workerinput = getattr(request.config, "workerinput", {})
    if WORKER_ADMIN_URL in workerinput:  # an xdist worker: the controller resolved it, and drops the roles
        with pytest.MonkeyPatch.context() as env:
            env.setenv(ROLE_PREFIX_ENV, workerinput[WORKER_ROLE_PREFIX])
            yield workerinput[WORKER_ADMIN_URL]
        return
    with ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_server())
        except UserError as exc:
            pytest.exit(f"error: {exc}", returncode=3)
        _say(request.config, server.description)
        prefix = _role_prefix()
        stack.enter_context(pytest.MonkeyPatch.context()).setenv(ROLE_PREFIX_ENV, prefix)
        stack.callback(drop_run_leftovers, server.admin_url, prefix)
        yield server.admin_url


def _role_prefix() -> str:
    return f"pot{uuid.uuid4().hex[:8]}_"


def run_template_name(prefix: str) -> str:
    """The run's migrated Airflow metadata database (tests/integration/conftest.py), shared by its workers."""
    return f"af_tpl_{prefix}"


def drop_run_leftovers(server_url: str, prefix: str) -> None:
    """At the end of the run: drop its shared Airflow template, then its roles.

    The other databases are gone by now, and with them the roles' privileges.
    """
    try:
        conn = psycopg2.connect(with_database(server_url, "postgres"), connect_timeout=10)
    except psycopg2.Error:
        return
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{run_template_name(prefix)}" with (force)')
            cur.execute("select quote_ident(rolname) from pg_roles where starts_with(rolname, %s)", (prefix,))
            for (role,) in cur.fetchall():
                try:
                    cur.execute(f"drop role {role}")
                except psycopg2.Error:
                    pass  # still used by a database a killed run left behind
    finally:
        conn.close()


@pytest.fixture(scope="session")
def airflow_template_name(admin_url: str) -> str:
    """The name of the run's migrated Airflow metadata database, the same in every xdist worker."""
    return run_template_name(os.environ[ROLE_PREFIX_ENV])


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

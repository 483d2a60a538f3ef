"""Versioned schema migrations for the raw tables (`partnerops db upgrade`).

The migrations are plain SQL inside Alembic revision files under
`versions/` beside this file. Alembic is already part of the install (Airflow uses it
for its own metadata database), records the applied revision in
`partnerops_meta.alembic_version` (`VERSION_SCHEMA`: out of `public`, where Airflow keeps its
own `alembic_version` when both share a database), and orders revisions by their declared
parent, so two people cannot silently apply migrations in different orders. A database
migrated before the table moved has it in `public`; the next upgrade moves it (`env.py`).

Migrations run only where a deployment chooses: `partnerops db upgrade` (docker-compose's
`airflow-init`, `make demo`, `partnerops serve`). Intake, loads and alerts only check the
revision (`require_current`) and stop with a plain message when the database is behind.
"""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent
#: The schema of the project's `alembic_version` table.
VERSION_SCHEMA = "partnerops_meta"


def _config(url: str, output: io.StringIO | None = None) -> Config:
    cfg = Config(stdout=output or io.StringIO())
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's config is an ini file underneath: escape % in passwords.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_config("postgresql://")).get_current_head()


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to `revision` (idempotent).

    An unreachable server or a malformed URL is a `UserError` with a plain message.
    """
    from sqlalchemy.exc import ArgumentError

    from partnerops.db import connect, describe
    from partnerops.errors import UserError

    with connect(url, autocommit=True):  # fails first, and plainly, if the server cannot be reached
        pass
    try:
        command.upgrade(_config(url), revision)
    except ArgumentError as exc:
        raise UserError(
            f"the database URL {describe(url)} is not one the migrations can use ({exc}); "
            "write it as postgresql://user:password@host:5432/database"
        ) from None


def current_revision(url: str) -> str | None:
    """The revision the database is at (None: never migrated, or migrated before the table moved)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn, opts={"version_table_schema": VERSION_SCHEMA}
                                              ).get_current_revision()
    finally:
        engine.dispose()


def require_current(url: str) -> None:
    """Stop with a plain message unless the database is at the head revision (no migration runs here)."""
    from partnerops.db import connect, describe
    from partnerops.errors import UserError

    head = head_revision()
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s)", (f"{VERSION_SCHEMA}.alembic_version",))
        current = None
        if cur.fetchone()[0] is not None:
            cur.execute(f"select version_num from {VERSION_SCHEMA}.alembic_version")
            row = cur.fetchone()
            current = row[0] if row else None
    if current != head:
        state = f"is at schema revision {current}" if current else "has no partnerops schema (or an old layout)"
        raise UserError(f"the project database {describe(url)} {state}; this version of partnerops needs "
                        f"revision {head}. Run `partnerops db upgrade` (docker compose: "
                        "`docker compose run --rm airflow-init`), then try again.")

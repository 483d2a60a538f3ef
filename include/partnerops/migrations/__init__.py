"""Versioned schema migrations for the raw tables (`partnerops db upgrade`).

The migrations are plain SQL inside Alembic revision files under
`versions/` beside this file. Alembic is already part of the install (Airflow uses it
for its own metadata database), records the applied revision in `alembic_version`, and
orders revisions by their declared parent, so two people cannot silently apply migrations
in different orders.
"""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent


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
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()

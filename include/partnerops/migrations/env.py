"""Alembic environment: runs the project's SQL migrations on the connection it is given.

The version table lives in `partnerops_meta` (`VERSION_SCHEMA`). A database migrated
before it moved keeps it in `public`: it is moved first, in its own transaction, when it
holds one of the project's revisions (Airflow's own `alembic_version` is left alone).
"""

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from partnerops.migrations import VERSION_SCHEMA

url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    with connection.begin():
        connection.execute(text(f"create schema if not exists {VERSION_SCHEMA}"))
        moved = connection.execute(text("select to_regclass(:t)"), {"t": f"{VERSION_SCHEMA}.alembic_version"}).scalar()
        old = connection.execute(text("select to_regclass('public.alembic_version')")).scalar()
        if old is not None and moved is None:
            ours = {rev.revision for rev in ScriptDirectory.from_config(context.config).walk_revisions()}
            held = {row[0] for row in connection.execute(text("select version_num from public.alembic_version"))}
            if held and held <= ours:
                connection.execute(text(f"alter table public.alembic_version set schema {VERSION_SCHEMA}"))
    context.configure(connection=connection, transaction_per_migration=True, version_table_schema=VERSION_SCHEMA)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()

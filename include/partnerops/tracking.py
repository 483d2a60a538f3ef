"""The `commitment_tracking` pipeline: everything the DAG does, as plain functions.

The DAG file (`dags/commitment_tracking.py`) only wires these together:

- `build_manifest()`: `dbt parse` into `var/dbt/manifest.json`, a build step (`partnerops
  dbt-manifest`, `make demo`, the test fixtures). Cosmos renders the DAG from that file, so
  parsing the DAG never calls dbt or the database.
- the date a run computes statuses as of (dbt var `as_of`) is `partnerops.as_of.for_run()`.
- `profile_mapping()`: dbt's profile for Cosmos, from the Airflow connection `partnerops_db`
  (Cosmos' Postgres ProfileMapping), read when a task runs (never at parse time).
- `check_marts_fresh()`: the status mart has rows for the as-of date; gates the TRACKING Asset.
- `generate_docs()`: `dbt docs generate` into `var/dbt/docs/` for account managers.
- `deadline_alerts()`: the DAG's Deadline Alerts; a miss tells the on-call person (`partnerops.oncall`).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from partnerops.settings import AIRFLOW_CONN_ID, FEED_TIMEZONE, Settings, get_settings

log = logging.getLogger(__name__)

DAG_ID = "commitment_tracking"
#: Marts must be fresh this many hours after midnight of the as-of date (on the ops clock,
#: `settings.FEED_TIMEZONE`): a run's logical date is that midnight.
MARTS_DUE_AFTER_MIDNIGHT_HOURS = 9
#: ... and, for a run triggered by new data (no logical date), this long after it was queued.
MARTS_DUE_AFTER_QUEUED = timedelta(hours=1)
#: The status mart: one row per commitment instance and as-of date.
STATUS_MART = ("marts", "commitment_statuses")
#: Placeholder URL for `dbt parse`, which reads the profile but never connects.
_PARSE_ONLY_URL = "postgresql://partnerops@127.0.0.1:5432/partnerops"


# -- files ----------------------------------------------------------------------------------------

def manifest_path(settings: Settings | None = None) -> Path:
    """The dbt manifest the DAG renders from (written by `build_manifest`), on this host."""
    return (settings or get_settings()).dbt_manifest_path


def local_manifest(settings: Settings | None = None) -> Path:
    """`manifest_path()`, fetched first from an object-storage base (the DAG file, at parse time).

    Cosmos parses a local file; with a `file://` base it is the base's own file.
    """
    from partnerops import state

    settings = settings or get_settings()
    state.pull(state.MANIFEST, settings)
    return manifest_path(settings)


def docs_dir(settings: Settings | None = None) -> Path:
    """Where `dbt docs generate` writes the static site (index.html, manifest, catalog)."""
    return (settings or get_settings()).dbt_docs_dir


def build_manifest(settings: Settings | None = None, url: str | None = None) -> Path:
    """Run `dbt parse` and install its manifest at `manifest_path()`; returns that path.

    dbt parse reads the profile but does not connect, so no database is needed; a URL only
    names the database in the manifest's node metadata.
    """
    from partnerops.dbt import run_dbt

    settings = settings or get_settings()
    target = manifest_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dbt-parse-", dir=target.parent) as tmp:
        run_dbt(["parse", "--no-partial-parse"], url=url or settings.database_url or _PARSE_ONLY_URL,
                project_dir=settings.dbt_project_dir, target_path=Path(tmp), capture=True)
        os.replace(Path(tmp) / "manifest.json", target)
    from partnerops import state

    state.push(state.MANIFEST, settings)  # every host's DAG file renders from the base's copy
    log.info("dbt manifest written to %s", target)
    return target


# -- Cosmos ---------------------------------------------------------------------------------------

#: How the dbt project is rendered as tasks. `watcher` is the default; the others exist to
#: measure the per-task overhead (bench/bench_tracking_dag.py, docs/benchmarks.md).
RENDERINGS = ("watcher", "watcher_sync", "watcher_model_tasks", "local")
RENDERING_ENV = "PARTNEROPS_TRACKING_RENDERING"
#: Seconds between two checks of a model's status by its watcher task (Cosmos default: 10).
WATCHER_POKE_SECONDS = 1


@functools.cache
def _mapping_class() -> type:
    import airflow  # noqa: F401  - cosmos cannot be imported before airflow (circular import)
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    class PartneropsProfileMapping(PostgresUserPasswordProfileMapping):
        """Cosmos' Postgres mapping, also for a connection without a password (trust, peer,
        `.pgpass`, client certificates) or with a socket folder as its `host` extra (the
        embedded server), and with libpq's TLS settings from the connection's extra."""

        required_fields = ["host", "user", "dbname"]
        airflow_param_mapping = {
            **PostgresUserPasswordProfileMapping.airflow_param_mapping,
            "host": ["host", "extra.host"],
            "sslcert": "extra.sslcert",
            "sslkey": "extra.sslkey",
            "sslrootcert": "extra.sslrootcert",
        }

        @property
        def conn(self) -> Any:
            """The connection `conn_id`; a component's own one that is not defined falls back to
            `partnerops_db` (as `partnerops.db.connection_url` does)."""
            from airflow.exceptions import AirflowNotFoundException

            try:
                return super().conn
            except AirflowNotFoundException:
                if self.conn_id == AIRFLOW_CONN_ID:
                    raise
                self.conn_id = AIRFLOW_CONN_ID
                return super().conn

        @property
        def env_vars(self) -> dict[str, str]:
            if self.get_dbt_value("password") is None:
                return {self.get_env_var_name("password"): ""}
            return super().env_vars

    return PartneropsProfileMapping


def profile_mapping(conn_id: str = AIRFLOW_CONN_ID) -> Any:
    """dbt's profile for Cosmos from the Airflow connection `conn_id` (default `partnerops_db`).

    The same connection the other tasks use (`partnerops.db.database_url`); Cosmos reads it
    when the dbt task runs and passes the password in an environment variable. The schema
    and threads are those of `dbt_project/profiles.yml` (`PARTNEROPS_DB_SCHEMA`,
    `PARTNEROPS_DBT_THREADS`), which the command line's dbt uses.
    """
    return _mapping_class()(conn_id=conn_id, profile_args={
        "schema": os.environ.get("PARTNEROPS_DB_SCHEMA") or "analytics",
        "threads": int(os.environ.get("PARTNEROPS_DBT_THREADS") or 4),
        "connect_timeout": 10,
    })


def cosmos_config(settings: Settings | None = None, rendering: str | None = None,
                  conn_id: str = AIRFLOW_CONN_ID) -> dict[str, Any]:
    """Keyword arguments for Cosmos' `DbtTaskGroup`: the project rendered from the manifest.

    The dbt var `as_of` is a Jinja template (`partnerops_as_of` macro) and the profile comes
    from the Airflow connection `conn_id` (`profile_mapping`), both resolved when a task runs,
    so that parsing never reads a secret or touches the database.
    """
    import airflow  # noqa: F401  - cosmos cannot be imported before airflow (circular import)
    from cosmos import (
        ExecutionConfig,
        ExecutionMode,
        InvocationMode,
        LoadMode,
        ProfileConfig,
        ProjectConfig,
        RenderConfig,
        TestBehavior,
    )

    from partnerops.dbt import PG_OPTIONS, dbt_vars

    settings = settings or get_settings()
    rendering = rendering or os.environ.get(RENDERING_ENV) or "watcher"
    if rendering not in RENDERINGS:
        raise ValueError(f"{RENDERING_ENV}={rendering!r}: expected one of {', '.join(RENDERINGS)}")
    operator_args: dict[str, Any] = {
        "install_deps": False,
        "emit_datasets": False,
        "vars": dbt_vars(extra={"as_of": "{{ partnerops_as_of(dag_run) }}"}),
        # libpq's session options for dbt's connections (no JIT), as the command line's dbt has them
        "env": {"PGOPTIONS": PG_OPTIONS},
    }
    watcher = rendering.startswith("watcher")
    setup_operator_args: dict[str, Any] = {}
    if watcher:
        operator_args["poke_interval"] = WATCHER_POKE_SECONDS
        operator_args["deferrable"] = rendering == "watcher"
    if rendering == "watcher_model_tasks":
        # No test tasks: Cosmos then restricts the build to models, seeds and snapshots with
        # --resource-type; adding the test types back keeps the build a full `dbt build`.
        setup_operator_args["dbt_cmd_flags"] = ["--resource-type", "test", "--resource-type", "unit_test"]
    return {
        "project_config": ProjectConfig(
            dbt_project_path=settings.dbt_project_dir,
            manifest_path=manifest_path(settings),
            project_name="partnerops",
            install_dbt_deps=False,
        ),
        "profile_config": ProfileConfig(
            profile_name="partnerops",
            target_name="default",
            profile_mapping=profile_mapping(conn_id),
        ),
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER if watcher else ExecutionMode.LOCAL,
            invocation_mode=None if watcher else InvocationMode.DBT_RUNNER,
            setup_operator_args=setup_operator_args or None,
        ),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.NONE if rendering == "watcher_model_tasks" else TestBehavior.AFTER_EACH,
            emit_datasets=False,
            # Exposures are documentation (who reads which mart), not something dbt runs: Cosmos has
            # no task for them and warned "Unavailable conversion function for EXPOSURE" on every
            # parse. `dbt build` never builds an exposure, so leaving them out changes nothing else.
            exclude=["resource_type:exposure"],
        ),
        "operator_args": operator_args,
    }


# -- tasks ----------------------------------------------------------------------------------------

def check_marts_fresh(url: str, as_of: str) -> int:
    """Rows of the status mart for `as_of`; raises if there are none (the marts are not fresh)."""
    from partnerops.db import connect

    schema, table = STATUS_MART
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s)", (f"{schema}.{table}",))
        if cur.fetchone()[0] is None:
            raise RuntimeError(f"the status mart {schema}.{table} does not exist; did dbt build it?")
        cur.execute(f'select count(*) from "{schema}"."{table}" where as_of_date = %s', (as_of,))
        rows = cur.fetchone()[0]
    if rows == 0:
        raise RuntimeError(f"{schema}.{table} has no rows as of {as_of}: the marts are not fresh")
    return rows


def tracking_event_extra(as_of: str, rows: int, dag_run: Any) -> dict[str, Any]:
    """What the TRACKING Asset event says: which date is fresh, and from which run."""
    return {"as_of": as_of, "status_rows": rows, "run_id": getattr(dag_run, "run_id", None)}


def generate_docs(url: str, settings: Settings | None = None, as_of: str | None = None) -> Path:
    """`dbt docs generate` into `docs_dir()`; returns the path of index.html."""
    from partnerops.dbt import run_dbt

    settings = settings or get_settings()
    out = docs_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    run_dbt(["docs", "generate"], url=url, as_of=as_of, project_dir=settings.dbt_project_dir,
            target_path=out, capture=True)
    shutil.rmtree(out / "logs", ignore_errors=True)
    index = out / "index.html"
    if not index.exists():
        raise RuntimeError(f"dbt docs generate wrote no {index}")
    from partnerops import state

    for name in ("index.html", "manifest.json", "catalog.json"):  # what the UI's dbt docs page reads
        state.push(f"{state.DBT_DOCS}/{name}", settings)
    return index


# -- deadline ----------------------------------------------------------------------------------

def deadline_alerts() -> list[Any]:
    """The DAG's Deadline Alerts: marts fresh by 09:00 of the as-of date, or within an hour of new data.

    A miss sends one message to the on-call person (`partnerops.oncall`), from the triggerer.
    """
    from airflow.sdk import DeadlineAlert, DeadlineReference

    from partnerops.oncall import deadline_callback

    due = f"{MARTS_DUE_AFTER_MIDNIGHT_HOURS:02d}:00"
    minutes = int(MARTS_DUE_AFTER_QUEUED.total_seconds() // 60)
    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_LOGICAL_DATE,  # the as-of date's midnight, ops clock
            interval=timedelta(hours=MARTS_DUE_AFTER_MIDNIGHT_HOURS),
            callback=deadline_callback(f"commitment-tracking marts not fresh by {due} ({FEED_TIMEZONE}) "
                                       "on the as-of date"),
            name=f"marts_fresh_by_{due.replace(':', '')}",
        ),
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=MARTS_DUE_AFTER_QUEUED,
            callback=deadline_callback(f"commitment-tracking marts not fresh {minutes} minutes after "
                                       "new data arrived"),
            name=f"marts_fresh_within_{minutes}min",
        ),
    ]

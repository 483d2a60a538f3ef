"""The `commitment_tracking` pipeline: everything the DAG does, as plain functions.

The DAG file (`dags/commitment_tracking.py`) only wires these together:

- `build_manifest()`: `dbt parse` into `var/dbt/manifest.json`, a build step (`partnerops
  dbt-manifest`, `make demo`, the test fixtures). Cosmos renders the DAG from that file, so
  parsing the DAG never calls dbt or the database.
- the date a run computes statuses as of (dbt var `as_of`) is `partnerops.as_of.for_run()`.
- `dbt_profile_env()`: the `PARTNEROPS_DB_*` variables `dbt_project/profiles.yml` reads, from
  the project database URL, resolved when a task runs (never at parse time).
- `check_marts_fresh()`: the status mart has rows for the as-of date; gates the TRACKING Asset.
- `generate_docs()`: `dbt docs generate` into `var/dbt/docs/` for account managers.
- `deadline_alerts()`: the DAG's Deadline Alerts; a miss tells the on-call person (`partnerops.oncall`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

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
    """The dbt manifest the DAG renders from (written by `build_manifest`)."""
    return (settings or get_settings()).data_dir / "dbt" / "manifest.json"


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
    log.info("dbt manifest written to %s", target)
    return target


# -- Cosmos ---------------------------------------------------------------------------------------

#: How the dbt project is rendered as tasks. `watcher` is the default; the others exist to
#: measure the per-task overhead (bench/bench_tracking_dag.py, docs/benchmarks.md).
RENDERINGS = ("watcher", "watcher_sync", "watcher_model_tasks", "local")
RENDERING_ENV = "PARTNEROPS_TRACKING_RENDERING"
#: Seconds between two checks of a model's status by its watcher task (Cosmos default: 10).
WATCHER_POKE_SECONDS = 1
_PROFILE_KEYS = ("PARTNEROPS_DB_HOST", "PARTNEROPS_DB_PORT", "PARTNEROPS_DB_USER", "PARTNEROPS_DB_PASSWORD",
                 "PARTNEROPS_DB_NAME")


def cosmos_config(settings: Settings | None = None, rendering: str | None = None) -> dict[str, Any]:
    """Keyword arguments for Cosmos' `DbtTaskGroup`: the project rendered from the manifest.

    Runtime values are Jinja templates resolved when a task runs: the dbt var `as_of`
    (`partnerops_as_of` macro) and the profile's connection variables (`partnerops_dbt_env`),
    so that parsing never reads the database URL's secrets or touches the database.
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

    from partnerops.dbt import dbt_vars

    settings = settings or get_settings()
    rendering = rendering or os.environ.get(RENDERING_ENV) or "watcher"
    if rendering not in RENDERINGS:
        raise ValueError(f"{RENDERING_ENV}={rendering!r}: expected one of {', '.join(RENDERINGS)}")
    operator_args: dict[str, Any] = {
        "install_deps": False,
        "emit_datasets": False,
        "vars": dbt_vars(extra={"as_of": "{{ partnerops_as_of(dag_run) }}"}),
        "env": {key: "{{ partnerops_dbt_env()['" + key + "'] }}" for key in _PROFILE_KEYS},
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
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
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


# -- run-time values --------------------------------------------------------------------------

def project_database_url() -> str:
    """The project database URL inside a task: `PARTNEROPS_DATABASE_URL`, else the Airflow connection.

    Its password is handed to Airflow's secrets masker, so a task log that prints the URL
    (or a dbt or psycopg2 message quoting it) shows `***` instead.
    """
    url = os.environ.get("PARTNEROPS_DATABASE_URL")
    if not url:
        from airflow.sdk import BaseHook

        url = BaseHook.get_connection(AIRFLOW_CONN_ID).get_uri().replace("postgres://", "postgresql://", 1)
    password = urlsplit(url).password
    if password:
        from airflow.sdk.log import mask_secret

        mask_secret(password)
        mask_secret(unquote(password))
    return url


def dbt_profile_env() -> dict[str, str]:
    """`PARTNEROPS_DB_*` for `profiles.yml`, for the running task (a Jinja macro in the DAG)."""
    from partnerops.dbt import dbt_env

    return dbt_env(project_database_url())


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

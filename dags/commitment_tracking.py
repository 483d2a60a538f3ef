"""
### commitment_tracking

Computes the status of every commitment of every agreement, on both sides, **as of a date**,
by building the dbt project (`dbt_project/`): staging → intermediate → marts.

**Triggered by** new data: any event of the intake Asset (`partnerops.agreements`) or of an
evidence feed Asset (`partnerops.evidence.<feed>`). It can also be run by hand; pick the
**As of** date in the trigger form (or pass `{"as_of": "YYYY-MM-DD"}` as the run's conf) to
recompute an earlier date (the answer known then).

**As-of date**: `conf["as_of"]`, else the run's logical date, else the time the run was
queued, on the ops clock (`partnerops.as_of`). It is passed to dbt as the var `as_of`.

**Tasks**
- `dbt.dbt_producer_watcher`: the one `dbt build` of the project (Cosmos `ExecutionMode.WATCHER`).
- `dbt.<model>_run` / `dbt.<model>_test`: one task per model and per model's tests; each turns
  green or red as dbt finishes that node, so ops see which model failed. Clearing a failed one
  re-runs just that model.
- `publish_tracking`: checks the status mart has rows for the as-of date, then emits the
  Asset `partnerops.tracking` (extra: `as_of`, `status_rows`), which the alerting and
  per-agreement DAGs follow.
- `generate_docs`: `dbt docs generate` into `var/dbt/docs/` (the log says where `index.html` is);
  account managers read the definitions of every status and metric there.

**Deadline**: the marts must be fresh by 09:00 on the as-of date, ops clock (runs with a
logical date), or within an hour of being queued (Asset-triggered runs). A miss emails the
on-call address (`PARTNEROPS_ONCALL_EMAIL`) and posts to the alerts webhook, as does a task
that fails for good (`partnerops.oncall`).

dbt and both tasks log in through the connection `partnerops_transformer` (else `partnerops_db`;
docs/deploy.md, "Database roles").

The task graph is rendered from the dbt manifest `var/dbt/manifest.json`, written by
`partnerops dbt-manifest` (part of `make demo`), never by calling dbt while parsing this file.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import AssetAny, dag, task

from partnerops import as_of, oncall, tracking
from partnerops.assets import AGREEMENTS, EVIDENCE, TRACKING
from partnerops.db import database_url
from partnerops.settings import DAG_START_DATE, TRANSFORMER_CONN_ID, get_settings

SETTINGS = get_settings()
MANIFEST = tracking.local_manifest(SETTINGS)  # fetched from an object-storage base, if one is set

MANIFEST_MISSING_DOC = f"""
> **The dbt manifest is missing** (`{MANIFEST}`), so the dbt models are not shown and a run
> fails at once. Build it with `partnerops dbt-manifest` (or `make demo`); the DAG picks it up
> at its next parse.
"""


@dag(
    dag_id=tracking.DAG_ID,
    schedule=AssetAny(AGREEMENTS, *EVIDENCE.values()),
    start_date=DAG_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "partnerops", "retries": 1,
                  "retry_delay": get_settings().timers.retry_delay(timedelta(minutes=1)),
                  "on_failure_callback": oncall.failure_callbacks()},
    tags=["partnerops", "dbt", "tracking"],
    doc_md=__doc__ if MANIFEST.exists() else MANIFEST_MISSING_DOC + __doc__,
    user_defined_macros={
        "partnerops_as_of": as_of.for_run,
    },
    deadline=tracking.deadline_alerts(),
    params={"as_of": as_of.param()},
)
def commitment_tracking() -> None:
    if MANIFEST.exists():
        from cosmos import DbtTaskGroup

        dbt_build = DbtTaskGroup(group_id="dbt", **tracking.cosmos_config(SETTINGS, conn_id=TRANSFORMER_CONN_ID))
    else:

        @task
        def dbt_manifest_missing() -> None:
            raise RuntimeError(MANIFEST_MISSING_DOC.replace(">", "").strip())

        dbt_build = dbt_manifest_missing()

    @task(outlets=[TRACKING])
    def publish_tracking(*, dag_run=None, outlet_events=None) -> dict:
        """Gate: the status mart has rows for the as-of date; then emit the TRACKING Asset."""
        date = as_of.for_run(dag_run).isoformat()
        rows = tracking.check_marts_fresh(database_url(conn_id=TRANSFORMER_CONN_ID), date)
        outlet_events[TRACKING].extra = tracking.tracking_event_extra(date, rows, dag_run)
        return {"as_of": date, "status_rows": rows}

    @task
    def generate_docs(*, dag_run=None) -> str:
        """dbt docs for account managers; the path of index.html is logged and returned."""
        index = tracking.generate_docs(database_url(conn_id=TRANSFORMER_CONN_ID), as_of=as_of.for_run(dag_run))
        print(f"dbt docs: {index}")
        return str(index)

    dbt_build >> [publish_tracking(), generate_docs()]


commitment_tracking()

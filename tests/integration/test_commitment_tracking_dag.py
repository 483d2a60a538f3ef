"""The commitment_tracking DAG under a running scheduler: one dbt build, a task per model.

A run for an as-of date (the session's shared run, `tracked` in conftest.py) must succeed
task by task, fill the status mart for that date, emit the TRACKING Asset with the date,
write the dbt docs, and (its 09:00 deadline on that date being long past) fire the
Deadline Alert's callback.
"""

from __future__ import annotations

import json
import time

import psycopg2
import pytest

from partnerops import tracking

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tracking_run(tracked):
    return tracked.run


def test_every_task_succeeds(tracking_run, airflow_runtime):
    assert tracking_run.state == "success", f"failed tasks: {tracking_run.failed_tasks}"
    assert tracking_run.failed_tasks == {}
    tasks = tracking_run.task_states
    assert "dbt.dbt_producer_watcher" in tasks
    assert {"publish_tracking", "generate_docs"} <= set(tasks)
    # One task per model: `dbt.<model>.run` (with a `.test` task) or `dbt.<model>_run`.
    model_tasks = {t for t in tasks if t.startswith("dbt.") and t.endswith("run")}
    assert any(tracking.STATUS_MART[1] in t for t in model_tasks), sorted(tasks)
    assert len(model_tasks) >= 10, f"expected a task per dbt model, got {sorted(tasks)}"


def test_status_mart_has_rows_for_the_as_of_date(tracked, tracking_project):
    schema, table = tracking.STATUS_MART
    with psycopg2.connect(tracking_project.url) as conn, conn.cursor() as cur:
        cur.execute(f'select count(*), count(distinct as_of_date) from "{schema}"."{table}" '
                    "where as_of_date = %s", (tracked.as_of,))
        rows, dates = cur.fetchone()
    assert rows > 0 and dates == 1


def test_tracking_asset_event_is_recorded_for_the_as_of_date(tracking_run, tracked, airflow_runtime):
    events = airflow_runtime.asset_events("partnerops.tracking")
    mine = [e for e in events if e["source_run_id"] == tracking_run.run_id]
    assert len(mine) == 1, events
    assert mine[0]["extra"]["as_of"] == tracked.as_of
    assert mine[0]["extra"]["status_rows"] > 0


def test_dbt_docs_are_generated(tracking_run, tracking_project):
    index = tracking.docs_dir(tracking_project.settings) / "index.html"
    assert index.exists()
    catalog = json.loads((index.parent / "catalog.json").read_text())
    assert any(key.endswith(".".join(tracking.STATUS_MART[1:])) for key in catalog["nodes"])


def test_missed_deadline_runs_the_oncall_callback(tracking_run, airflow_runtime):
    """The run's deadline (09:00 on the as-of date) passed long ago: the triggerer must have run its callback.

    The runtime has no on-call address, so the on-call notifier only logs; that it sends one
    message when one is configured is tests/include/alerts/test_oncall.py.
    """
    query = """select c.state, c.output, c.data::text
                 from deadline d
                 join callback c on c.id = d.callback_id
                 join dag_run r on r.id = d.dagrun_id
                where r.run_id = %s and d.missed"""
    end, rows = time.monotonic() + 60, []
    while time.monotonic() < end:
        with psycopg2.connect(airflow_runtime.meta_url.replace("+psycopg2", "", 1)) as conn, conn.cursor() as cur:
            cur.execute(query, (tracking_run.run_id,))
            rows = cur.fetchall()
        if any(state == "success" for state, _, _ in rows):
            break
        time.sleep(1)
    assert any(state == "success" and "partnerops.oncall.OnCallNotifier" in data for state, _, data in rows), rows

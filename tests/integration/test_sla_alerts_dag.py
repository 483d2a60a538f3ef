"""The sla_alerts DAG under a running scheduler, triggered by the TRACKING Asset.

A commitment_tracking run for an as-of date emits `partnerops.tracking`; that event must
start an `sla_alerts` run, whose task reads the status mart for the event's date. The
runtime has no alert channel configured, so the run is a dry run: it reports what it would
raise and records nothing (docs/alerts.md).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg2
import pytest

from partnerops import tracking
from partnerops.settings import FEED_TIMEZONE

pytestmark = pytest.mark.integration

DAG_ID = "sla_alerts"
AS_OF = "2026-04-30"


def _reports(af, run_id: str) -> list[dict]:
    try:
        entry = af.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/send_alerts/xcomEntries/return_value")
    except Exception:  # no XCom (yet)
        return []
    value = entry.get("value")
    return json.loads(value) if isinstance(value, str) else value or []


@pytest.fixture(scope="module")
def alerts_run(airflow_runtime):
    af = airflow_runtime
    af.wait_for_dag(DAG_ID)
    af.wait_for_dag(tracking.DAG_ID)
    af.unpause(DAG_ID)
    af.unpause(tracking.DAG_ID)
    logical = datetime.fromisoformat(AS_OF).replace(tzinfo=ZoneInfo(FEED_TIMEZONE))
    tracked = af.wait_for_run(tracking.DAG_ID, af.trigger(tracking.DAG_ID, logical_date=logical,
                                                          conf={"as_of": AS_OF}), timeout=900)
    assert tracked.state == "success", tracked.failed_tasks
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for run in af.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]:
            if run["state"] in ("success", "failed"):
                reports = _reports(af, run["dag_run_id"])
                if run["state"] == "failed" or any(r["as_of"] == AS_OF for r in reports):
                    return run, reports
        time.sleep(2)
    raise AssertionError(f"no sla_alerts run for {AS_OF} within 300 s")


def test_tracking_asset_triggers_an_alert_run_for_its_date(alerts_run):
    run, reports = alerts_run
    assert run["state"] == "success", run
    assert run["run_type"] == "asset_triggered"
    [report] = [r for r in reports if r["as_of"] == AS_OF]
    assert report["status_rows"] > 0


def test_without_a_channel_the_dag_run_is_a_dry_run_that_records_nothing(alerts_run, tracking_project):
    _, reports = alerts_run
    assert all(r["dry_run"] for r in reports)
    with psycopg2.connect(tracking_project.url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.alerts")
        assert cur.fetchone()[0] == 0

"""The sla_alerts DAG under a running scheduler, triggered by the TRACKING Asset.

A commitment_tracking run for an as-of date (the session's shared run, `tracked` in
conftest.py) emits `partnerops.tracking`; that event must start an `sla_alerts` run, whose
task reads the status mart for the event's date. The runtime has no alert channel
configured, so the run is a dry run: it reports what it would raise and records nothing
(docs/alerts.md).
"""

from __future__ import annotations

import psycopg2
import pytest

pytestmark = pytest.mark.integration


def test_tracking_asset_triggers_an_alert_run_for_its_date(tracked):
    run, reports = tracked.alerts_run, tracked.alerts_reports
    assert run["state"] == "success", run
    assert run["run_type"] == "asset_triggered"
    [report] = [r for r in reports if r["as_of"] == tracked.as_of]
    assert report["status_rows"] > 0


def test_without_a_channel_the_dag_run_is_a_dry_run_that_records_nothing(tracked, tracking_project):
    reports = tracked.alerts_reports
    assert reports and all(r["dry_run"] for r in reports)
    with psycopg2.connect(tracking_project.url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.alerts")
        assert cur.fetchone()[0] == 0

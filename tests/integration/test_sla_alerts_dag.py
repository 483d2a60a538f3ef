"""The sla_alerts DAG under a running scheduler, triggered by the TRACKING Asset, its worker killed mid-send.

A commitment_tracking run for an as-of date (the session's shared run, `tracked` in
conftest.py) emits `partnerops.tracking`; that event must start an `sla_alerts` run, whose
task reads the status mart for the event's date and emails the alerts through the session's
SMTP server (`smtp`). That server holds the second message back, and the Celery worker
running the task is killed with SIGKILL, all its processes with it. The scheduler notices the
silent task and retries it, and each alert is still recorded once and each email delivered once.
"""

from __future__ import annotations

import pytest
from db_query import query
from smtp_sink import HELD_MESSAGE

pytestmark = pytest.mark.integration


def test_tracking_asset_triggers_an_alert_run_for_its_date(tracked):
    run, reports = tracked.alerts_run, tracked.alerts_reports
    assert run["state"] == "success", run
    assert run["run_type"] == "asset_triggered"
    [report] = [r for r in reports if r["as_of"] == tracked.as_of]
    assert report["status_rows"] > 0
    assert not report["dry_run"], "the runtime has an SMTP server: the alerts are sent"


def test_the_killed_send_is_retried(tracked, airflow_runtime):
    assert tracked.delivered_before_kill == HELD_MESSAGE - 1, "the worker was killed with a message in flight"
    retried = airflow_runtime.api(
        "GET", f"/dags/sla_alerts/dagRuns/{tracked.alerts_run['dag_run_id']}/taskInstances/send_alerts")
    assert retried["try_number"] > tracked.killed_try
    assert retried["state"] == "success"


def test_each_alert_is_recorded_once_and_each_email_delivered_once(tracked, tracking_project, smtp):
    sink, _ = smtp
    deliveries = query(tracking_project.url,
                       """select a.agreement_id, a.commitment_id, a.instance_key, a.rule, d.recipient
                            from raw.alert_deliveries d join raw.alerts a using (alert_id)
                           where d.status = 'sent' and d.channel = 'email'""")
    assert len(deliveries) > HELD_MESSAGE
    assert len(set(deliveries)) == len(deliveries), "an alert was delivered twice to one person"
    sent = sink.messages
    assert len(set(sent)) == len(sent), "an email was sent twice"
    assert len(sent) == len(deliveries), "an email was not recorded as delivered, or recorded twice"
    assert sorted(r for rcpts, _ in sent for r in rcpts) == sorted(d[4] for d in deliveries)

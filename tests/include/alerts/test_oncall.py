"""Failures reach a person: the platform DAGs' failure callbacks and the tracking Deadline Alerts.

The DAGs are the real DAG files, imported; their callbacks are run by Airflow's own code
(the worker's task-callback runner, and the triggerer's `CallbackTrigger` for a Deadline
Alert), and the messages go to a real SMTP server (aiosmtpd) and a real HTTP receiver.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.execution_time.task_runner import _run_task_state_change_callbacks
from airflow.triggers.callback import PAYLOAD_STATUS_KEY, CallbackTrigger
from alerts_fixtures import SmtpServer, Webhook

from partnerops import oncall
from partnerops.settings import get_settings

DAGS = get_settings().dags_folder
PLATFORM_DAGS = {  # file -> a task of one of its DAGs
    "agreements_intake.py": ("agreements_intake", "take_in_agreements"),
    "evidence_feeds.py": ("evidence_orders", "load_orders"),
    "commitment_tracking.py": ("commitment_tracking", "publish_tracking"),
    "sla_alerts.py": ("sla_alerts", "send_alerts"),
}
ONCALL = "oncall@partners.example.com"


def _dag(file: str, dag_id: str):
    """A DAG of one of the project's DAG files, parsed in this process as the DAG processor does."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / file))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@pytest.fixture
def oncall_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smtp_server: SmtpServer) -> SmtpServer:
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))  # the tracking DAG looks for its manifest there
    monkeypatch.setenv("PARTNEROPS_SMTP_URL", smtp_server.url)
    monkeypatch.setenv("PARTNEROPS_ONCALL_EMAIL", ONCALL)
    monkeypatch.delenv("AIRFLOW_CONN_PARTNEROPS_SMTP", raising=False)
    monkeypatch.delenv("PARTNEROPS_ALERTS_WEBHOOK_URL", raising=False)
    return smtp_server


def _failure_context(dag, task_id: str, error: BaseException) -> dict:
    task = dag.get_task(task_id)
    ti = SimpleNamespace(dag_id=dag.dag_id, task_id=task_id, run_id="scheduled__2026-06-20T00:00:00+00:00",
                         try_number=3, log_url="http://localhost:8080/dags/x/runs/y/tasks/z")
    run = SimpleNamespace(dag_id=dag.dag_id, run_id=ti.run_id, logical_date=datetime(2026, 6, 20, tzinfo=UTC),
                          conf={})
    return {"dag": dag, "task": task, "ti": ti, "task_instance": ti, "dag_run": run, "run_id": ti.run_id,
            "exception": error, "outlet_events": {}}


@pytest.mark.parametrize("file", sorted(PLATFORM_DAGS))
def test_a_failing_platform_task_sends_one_message_to_oncall(file: str, oncall_env: SmtpServer):
    dag_id, task_id = PLATFORM_DAGS[file]
    dag = _dag(file, dag_id)
    task = dag.get_task(task_id)
    assert any(isinstance(cb, oncall.OnCallNotifier) for cb in task.on_failure_callback), task.on_failure_callback

    context = _failure_context(dag, task_id, RuntimeError("the database refused the connection"))
    _run_task_state_change_callbacks(task, "on_failure_callback", context, logging.getLogger("test"))

    assert len(oncall_env.messages) == 1, [m["Subject"] for _, m in oncall_env.messages]
    rcpts, msg = oncall_env.messages[0]
    assert rcpts == [ONCALL]
    assert f"FAILED: {dag_id}.{task_id}" in str(msg["Subject"])
    body = msg.get_payload()[0].get_payload(decode=True).decode()
    assert "RuntimeError: the database refused the connection" in body and "Try: 3" in body


def test_the_webhook_gets_the_same_failure(oncall_env: SmtpServer, webhook: Webhook,
                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_ALERTS_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("PARTNEROPS_ALERTS_WEBHOOK_SECRET", webhook.secret)
    dag = _dag("sla_alerts.py", "sla_alerts")
    oncall.OnCallNotifier()(_failure_context(dag, "send_alerts", ValueError("bad")))
    assert len(oncall_env.messages) == 1 and len(webhook.posts) == 1
    assert "FAILED: sla_alerts.send_alerts" in webhook.posts[0]["text"]


def test_a_refused_channel_fails_the_callback_after_trying_the_other(oncall_env: SmtpServer, webhook: Webhook,
                                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_ALERTS_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("PARTNEROPS_ALERTS_WEBHOOK_SECRET", webhook.secret)
    oncall_env.refuse = True
    with pytest.raises(RuntimeError, match="was not delivered: email to oncall@"):
        oncall.OnCallNotifier()({"dag_run": {"dag_id": "d", "run_id": "r"}, "exception": ValueError("x")})
    assert len(webhook.posts) == 1


def test_with_no_channel_nobody_is_told_and_the_log_says_so(monkeypatch: pytest.MonkeyPatch, caplog):
    for name in ("PARTNEROPS_SMTP_URL", "AIRFLOW_CONN_PARTNEROPS_SMTP", "PARTNEROPS_ONCALL_EMAIL",
                 "PARTNEROPS_ALERTS_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    oncall.OnCallNotifier()({"exception": ValueError("x")})
    assert "nobody was told" in caplog.text


def test_a_missed_tracking_deadline_sends_one_message_to_oncall(oncall_env: SmtpServer):
    dag = _dag("commitment_tracking.py", "commitment_tracking")
    assert len(dag.deadline) == 2
    alert = next(a for a in dag.deadline if a.name == "marts_fresh_by_0900")
    # What the scheduler stores for a missed deadline and the triggerer runs: the callback's path
    # and kwargs, plus the deadline's context (airflow.models.deadline.Deadline.handle_miss).
    serialized = alert.callback.serialize()
    context = {"dag_run": {"dag_id": "commitment_tracking", "dag_run_id": "scheduled__2026-06-19T16:00:00+00:00",
                           "logical_date": "2026-06-19T16:00:00Z", "state": "running"},
               "deadline": {"id": "0199", "deadline_time": "2026-06-20T01:00:00Z"}}
    trigger = CallbackTrigger(serialized["path"], {**serialized["kwargs"], "context": context})

    async def run() -> list:
        return [event async for event in trigger.run()]

    events = asyncio.run(run())
    assert events[-1].payload[PAYLOAD_STATUS_KEY] == "success", events[-1].payload
    assert len(oncall_env.messages) == 1
    rcpts, msg = oncall_env.messages[0]
    assert rcpts == [ONCALL]
    assert "DEADLINE MISSED: commitment-tracking marts not fresh by 09:00" in str(msg["Subject"])
    body = msg.get_payload()[0].get_payload(decode=True).decode()
    assert "scheduled__2026-06-19T16:00:00+00:00" in body and "2026-06-20T01:00:00Z" in body

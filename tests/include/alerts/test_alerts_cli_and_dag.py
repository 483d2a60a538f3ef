"""`partnerops alerts` and the sla_alerts task's choice of as-of dates."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from partnerops.alerts.run import as_of_dates_for_run
from partnerops.assets import TRACKING
from partnerops.cli import main


def event(as_of: str | None) -> SimpleNamespace:
    return SimpleNamespace(extra={"as_of": as_of} if as_of else {})


def test_each_triggering_event_date_is_handled_oldest_first():
    events = {TRACKING: [event("2026-06-21"), event("2026-06-19"), event("2026-06-21"), event(None)]}
    assert as_of_dates_for_run(events, None) == [date(2026, 6, 19), date(2026, 6, 21)]


def test_a_run_started_by_hand_uses_its_conf():
    run = SimpleNamespace(conf={"as_of": "2026-06-01"}, logical_date=None, run_after=None)
    assert as_of_dates_for_run({}, run) == [date(2026, 6, 1)]


def test_cli_reports_a_missing_mart_plainly(project_env, capsys: pytest.CaptureFixture[str]):
    assert main(["alerts", "--dry-run", "--as-of", "2026-06-20"]) == 1
    err = capsys.readouterr().err
    assert "status mart marts.commitment_statuses does not exist" in err and "Traceback" not in err


def test_cli_rejects_a_bad_date(project_env, capsys: pytest.CaptureFixture[str]):
    assert main(["alerts", "--as-of", "20-06-2026"]) == 1
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_cli_without_a_channel_says_how_to_configure_one(project_env, monkeypatch, capsys):
    monkeypatch.delenv("PARTNEROPS_SMTP_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_PARTNEROPS_SMTP", raising=False)
    monkeypatch.delenv("PARTNEROPS_ALERTS_WEBHOOK_URL", raising=False)
    assert main(["alerts", "--as-of", "2026-06-20"]) == 1
    assert "--dry-run" in capsys.readouterr().err

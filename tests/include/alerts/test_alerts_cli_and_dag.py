"""`partnerops alerts` on the command line (the DAG's as-of dates: tests/include/test_as_of.py)."""

from __future__ import annotations

import pytest

from partnerops.cli import main


def test_cli_reports_a_missing_mart_plainly(project_env, capsys: pytest.CaptureFixture[str]):
    assert main(["alerts", "--dry-run", "--as-of", "2026-06-20"]) == 1
    err = capsys.readouterr().err
    assert "marts.commitment_statuses" in err and "do not exist" in err and "Traceback" not in err


def test_cli_rejects_a_bad_date(project_env, capsys: pytest.CaptureFixture[str]):
    assert main(["alerts", "--as-of", "20-06-2026"]) == 1
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_cli_without_a_channel_says_how_to_configure_one(project_env, monkeypatch, capsys):
    monkeypatch.delenv("PARTNEROPS_SMTP_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_PARTNEROPS_SMTP", raising=False)
    monkeypatch.delenv("PARTNEROPS_ALERTS_WEBHOOK_URL", raising=False)
    assert main(["alerts", "--as-of", "2026-06-20"]) == 1
    assert "--dry-run" in capsys.readouterr().err

"""The commitment_tracking pipeline's plain functions (partnerops.tracking), without Airflow running."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from partnerops import tracking


def _run(conf=None, logical_date=None, run_after=None):
    return SimpleNamespace(conf=conf or {}, logical_date=logical_date, run_after=run_after, run_id="r1")


def test_as_of_comes_from_conf_first():
    run = _run(conf={"as_of": "2026-02-14"}, logical_date=datetime(2026, 5, 1, tzinfo=UTC))
    assert tracking.as_of_for_run(run) == "2026-02-14"


def test_as_of_is_the_logical_date_on_the_shanghai_clock():
    # 16:00 UTC on 30 March is already 31 March in Shanghai.
    assert tracking.as_of_for_run(_run(logical_date=datetime(2026, 3, 30, 16, 0, tzinfo=UTC))) == "2026-03-31"
    assert tracking.as_of_for_run(_run(logical_date=datetime(2026, 3, 30, 15, 59, tzinfo=UTC))) == "2026-03-30"


def test_asset_triggered_runs_use_run_after():
    assert tracking.as_of_for_run(_run(run_after=datetime(2026, 6, 18, 20, 0, tzinfo=UTC))) == "2026-06-19"


def test_a_bad_as_of_in_conf_is_rejected():
    with pytest.raises(ValueError):
        tracking.as_of_for_run(_run(conf={"as_of": "31/03/2026"}))


def test_a_run_without_any_date_is_rejected():
    with pytest.raises(ValueError):
        tracking.as_of_for_run(_run())


def test_deadline_callback_logs_and_writes_a_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog):
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    context = {"dag_run": {"dag_id": "commitment_tracking", "dag_run_id": "manual__1",
                           "logical_date": "2026-03-30T16:00:00Z"},
               "deadline": {"id": "d1", "deadline_time": "2026-03-31T01:00:00Z"}}
    out = asyncio.run(tracking.notify_marts_late(context=context, message="late!"))
    assert isinstance(out, str)  # Airflow stores the callback's output as text
    notices = [json.loads(line) for line in (tmp_path / "ops" / "pipeline_notices.jsonl").read_text().splitlines()]
    assert notices == [{**notices[0], "kind": "deadline_missed", "run_id": "manual__1", "message": "late!",
                        "deadline_time": "2026-03-31T01:00:00Z"}]
    assert "DEADLINE MISSED" in caplog.text


def test_cosmos_config_renders_watcher_mode_from_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(tracking.RENDERING_ENV, raising=False)
    config = tracking.cosmos_config()
    from cosmos import ExecutionMode, LoadMode

    assert config["execution_config"].execution_mode is ExecutionMode.WATCHER
    assert config["render_config"].load_method is LoadMode.DBT_MANIFEST
    assert str(config["project_config"].manifest_path).endswith(str(tmp_path / "dbt" / "manifest.json"))
    args = config["operator_args"]
    assert args["vars"] == {"as_of": "{{ partnerops_as_of(dag_run) }}"}
    # Connection details are templates resolved when a task runs: nothing secret is serialized.
    assert all(v.startswith("{{ partnerops_dbt_env()") for v in args["env"].values())


def test_an_unknown_rendering_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(tracking.RENDERING_ENV, "fastest")
    with pytest.raises(ValueError, match="expected one of"):
        tracking.cosmos_config()


def test_dbt_profile_env_comes_from_the_project_database_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", "postgresql://ops:s3cret@db.example:6543/tracking")
    env = tracking.dbt_profile_env()
    assert env["PARTNEROPS_DB_HOST"] == "db.example"
    assert env["PARTNEROPS_DB_PORT"] == "6543"
    assert env["PARTNEROPS_DB_NAME"] == "tracking"
    assert env["PARTNEROPS_DB_PASSWORD"] == "s3cret"


def test_build_manifest_writes_the_manifest_without_a_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PARTNEROPS_DATABASE_URL", raising=False)
    path = tracking.build_manifest()
    assert path == tmp_path / "dbt" / "manifest.json"
    nodes = json.loads(path.read_text())["nodes"]
    assert f"model.partnerops.{tracking.STATUS_MART[1]}" in nodes
    assert not list((tmp_path / "dbt").glob("dbt-parse-*")), "the temporary target folder is left behind"

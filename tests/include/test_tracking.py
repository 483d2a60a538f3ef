"""The commitment_tracking pipeline's plain functions (partnerops.tracking), without Airflow running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from partnerops import tracking
from partnerops.settings import FEED_TIMEZONE


def test_cosmos_config_renders_watcher_mode_from_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(tracking.RENDERING_ENV, raising=False)
    config = tracking.cosmos_config()
    from cosmos import ExecutionMode, LoadMode

    assert config["execution_config"].execution_mode is ExecutionMode.WATCHER
    assert config["render_config"].load_method is LoadMode.DBT_MANIFEST
    assert str(config["project_config"].manifest_path).endswith(str(tmp_path / "dbt" / "manifest.json"))
    args = config["operator_args"]
    assert args["vars"] == {"as_of": "{{ partnerops_as_of(dag_run) }}", "feed_timezone": FEED_TIMEZONE}
    # Connection details are templates resolved when a task runs: nothing secret is serialized.
    assert all(v.startswith("{{ partnerops_dbt_env()") for v in args["env"].values())
    # exposures are documentation: no task, and no "Unavailable conversion function" warning per parse
    assert config["render_config"].exclude == ["resource_type:exposure"]


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


def test_a_task_hands_the_database_password_to_the_airflow_log_masker(monkeypatch: pytest.MonkeyPatch):
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    password = "masked-in-task-logs-7f2c"  # pragma: allowlist secret
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", f"postgresql://ops:{password}@db.example:6543/tracking")
    assert password in redact(f"connecting with {password}")  # nothing masks it before
    url = tracking.project_database_url()
    assert password in url
    assert password not in redact(f"could not connect: {url}") and "***" in redact(url)

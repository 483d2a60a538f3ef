"""The commitment_tracking pipeline's plain functions (partnerops.tracking), without Airflow running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from partnerops import tracking
from partnerops.db import connection_url
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
    # The profile comes from the Airflow connection when a task runs: nothing secret is serialized.
    assert args["env"] == {"PGOPTIONS": "-c jit=off"}
    assert config["profile_config"].profile_mapping.conn_id == "partnerops_db"
    # exposures are documentation: no task, and no "Unavailable conversion function" warning per parse
    assert config["render_config"].exclude == ["resource_type:exposure"]


def test_an_unknown_rendering_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(tracking.RENDERING_ENV, "fastest")
    with pytest.raises(ValueError, match="expected one of"):
        tracking.cosmos_config()


def _profile(mapping) -> dict:
    import yaml

    contents = yaml.safe_load(mapping.get_profile_file_contents("partnerops", "default"))
    return contents["partnerops"]["outputs"]["default"]


def test_the_dbt_profile_comes_from_the_airflow_connection(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PARTNEROPS_DB_SCHEMA", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_DB", "postgresql://ops:s3cret@db.example:6543/tracking?sslmode=require")
    mapping = tracking.profile_mapping()
    profile = _profile(mapping)
    assert (profile["host"], profile["port"], profile["user"], profile["dbname"]) == ("db.example", 6543, "ops",
                                                                                        "tracking")
    assert profile["schema"] == "analytics" and profile["sslmode"] == "require"
    # the password reaches dbt in an environment variable, never in the profile file
    assert "s3cret" not in mapping.get_profile_file_contents("partnerops", "default")
    assert list(mapping.env_vars.values()) == ["s3cret"]


def test_a_connection_with_a_socket_folder_and_no_password_makes_a_profile(monkeypatch: pytest.MonkeyPatch):
    """The embedded server of `partnerops serve` (trust auth, a socket folder): Cosmos' own mapping refuses it."""
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_LOADER", "postgresql://postgres@/partnerops?host=%2Ftmp%2Fpg")
    mapping = tracking.profile_mapping("partnerops_loader")
    assert _profile(mapping)["host"] == "/tmp/pg"
    assert list(mapping.env_vars.values()) == [""]


def test_build_manifest_writes_the_manifest_without_a_database(dbt_manifest: Path):
    """The session's manifest (tests/conftest.py) is `build_manifest` run with no database URL."""
    assert dbt_manifest.name == "manifest.json" and dbt_manifest.parent.name == "dbt"
    nodes = json.loads(dbt_manifest.read_text())["nodes"]
    assert f"model.partnerops.{tracking.STATUS_MART[1]}" in nodes
    assert not list(dbt_manifest.parent.glob("dbt-parse-*")), "the temporary target folder is left behind"


def test_dbt_logs_in_as_the_transformer_else_through_partnerops_db(monkeypatch: pytest.MonkeyPatch):
    """The tracking DAG's dbt uses the connection `partnerops_transformer`; undefined, `partnerops_db`."""
    one = "postgresql://ops:one@db.example:5432/tracking"  # pragma: allowlist secret
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_DB", one)
    monkeypatch.delenv("AIRFLOW_CONN_PARTNEROPS_TRANSFORMER", raising=False)
    assert _profile(tracking.profile_mapping("partnerops_transformer"))["user"] == "ops"
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_TRANSFORMER",
                       "postgresql://partnerops_transformer:two@db.example:5432/tracking")  # pragma: allowlist secret
    mapping = tracking.profile_mapping("partnerops_transformer")
    assert _profile(mapping)["user"] == "partnerops_transformer" and list(mapping.env_vars.values()) == ["two"]
    args = tracking.cosmos_config(conn_id="partnerops_transformer")
    assert args["profile_config"].profile_mapping.conn_id == "partnerops_transformer"


def test_the_connection_hands_the_database_password_to_the_airflow_log_masker(monkeypatch: pytest.MonkeyPatch):
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    password = "masked-in-task-logs-7f2c"  # pragma: allowlist secret
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_DB", f"postgresql://ops:{password}@db.example:6543/tracking")
    assert password in redact(f"connecting with {password}")  # nothing masks it before
    url = connection_url()
    assert password in url
    assert password not in redact(f"could not connect: {url}") and "***" in redact(url)

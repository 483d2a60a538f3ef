"""The one settings object: defaults, the database URL's spellings, Airflow's local configuration."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from partnerops.errors import UserError
from partnerops.settings import NO_TELEMETRY_ENV, airflow_environ, get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PARTNEROPS_DATABASE_URL", "AIRFLOW_CONN_PARTNEROPS_DB", "PARTNEROPS_DATA_DIR",
                 "PARTNEROPS_AGREEMENTS_INBOX", "PARTNEROPS_DECISION_WINDOW_MINUTES", "PARTNEROPS_RETRY_DELAY_SECONDS"):
        monkeypatch.delenv(name, raising=False)


def test_no_url_means_the_embedded_server_and_state_stays_in_the_project() -> None:
    settings = get_settings()
    assert settings.database_url is None
    assert settings.data_dir == settings.project_root / "var"
    assert settings.airflow_home == settings.project_root / "var" / "airflow"
    assert settings.agreements_inbox == settings.project_root / "var" / "inbox" / "agreements"


def test_the_airflow_connection_spelling_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_DB", "postgres://ops:s3cret@db.internal:5433/partnerops")
    assert get_settings().database_url == "postgresql://ops:s3cret@db.internal:5433/partnerops"
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", "postgresql://root@127.0.0.1:5432/other")
    assert get_settings().database_url == "postgresql://root@127.0.0.1:5432/other"


def test_airflow_runs_from_the_repository_with_examples_and_telemetry_off(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    settings = get_settings()
    env = airflow_environ(settings, "postgresql://root@127.0.0.1:5432/x")
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(settings.project_root / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(settings.project_root / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW_CONN_PARTNEROPS_DB"] == env["PARTNEROPS_DATABASE_URL"] == "postgresql://root@127.0.0.1:5432/x"
    for name, value in NO_TELEMETRY_ENV.items():
        assert env[name] == value
    assert env["DO_NOT_TRACK"] == "1" and env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"


def test_the_time_zones_are_one_setting_each_and_everything_reads_them() -> None:
    import json
    import re

    from partnerops.agreements.model import DEFAULT_TIMEZONE, agreement_from_document
    from partnerops.agreements.sample import sample_documents
    from partnerops.dbt import dbt_vars
    from partnerops.evidence.feeds import BUSINESS_TZ
    from partnerops.settings import AGREEMENT_DEFAULT_TIMEZONE, DAG_START_DATE, FEED_TIMEZONE

    settings = get_settings()
    assert airflow_environ(settings)["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == FEED_TIMEZONE
    assert dbt_vars("2026-06-20")["feed_timezone"] == FEED_TIMEZONE
    assert str(BUSINESS_TZ) == FEED_TIMEZONE and str(DAG_START_DATE.tzinfo) == FEED_TIMEZONE
    # An agreement that names no time zone gets the agreements' default; the schema states none of its own.
    assert DEFAULT_TIMEZONE == AGREEMENT_DEFAULT_TIMEZONE
    doc = sample_documents(brands=1, groups=1, seed=1, year=2026)[0]
    doc.pop("timezone")
    assert agreement_from_document(doc).timezone == AGREEMENT_DEFAULT_TIMEZONE
    schema = json.loads((settings.project_root / "include/partnerops/schemas/agreement.v1.schema.json").read_text())
    assert "default" not in schema["properties"]["timezone"]
    # The zone's name is written once in the code (include/, dags/, plugins/): in the setting.
    literal = re.compile(re.escape(FEED_TIMEZONE))
    places = [f"{p.relative_to(settings.project_root)}:{n}"
              for folder in ("include", "dags", "plugins") if (settings.project_root / folder).is_dir()
              for p in sorted((settings.project_root / folder).rglob("*"))
              if p.is_file() and p.suffix in (".py", ".json", ".sql", ".yml", ".yaml", ".md", ".html", ".j2")
              for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if literal.search(line)]
    assert len(places) == 1 and places[0].startswith("include/partnerops/settings.py:"), places


def test_airflow_environ_is_the_one_definition_plus_this_hosts_paths(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from partnerops.settings import (
        AIRFLOW_CONFIG,
        AIRFLOW_PATH_KEYS,
        FAB_AUTH_MANAGER,
        LOCAL_AUTH_CONFIG,
        SIMPLE_AUTH_MANAGER,
    )

    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    deployed = airflow_environ(get_settings(), local_auth=False)
    assert list(deployed) == [*AIRFLOW_PATH_KEYS, *AIRFLOW_CONFIG]
    assert {k: deployed[k] for k in AIRFLOW_CONFIG} == AIRFLOW_CONFIG
    assert deployed["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    # local runs: the same, with the simple auth manager instead of FAB
    env = airflow_environ(get_settings())
    assert env == {**deployed, **LOCAL_AUTH_CONFIG}
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == SIMPLE_AUTH_MANAGER
    assert all(env[k].startswith("/") or str(tmp_path) in env[k] for k in AIRFLOW_PATH_KEYS)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(
        tmp_path / "airflow" / "simple_auth_manager_passwords.json")
    assert NO_TELEMETRY_ENV.items() <= AIRFLOW_CONFIG.items()


def test_timers_are_production_ones_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    timers = get_settings().timers
    assert timers.decision_window == timedelta(hours=20)
    assert timers.retry_delay(timedelta(minutes=5)) == timedelta(minutes=5)
    monkeypatch.setenv("PARTNEROPS_DECISION_WINDOW_MINUTES", "0.5")
    monkeypatch.setenv("PARTNEROPS_RETRY_DELAY_SECONDS", "1")
    timers = get_settings().timers
    assert timers.decision_window == timedelta(seconds=30)
    assert timers.retry_delay(timedelta(minutes=5)) == timedelta(seconds=1)
    monkeypatch.setenv("PARTNEROPS_RETRY_DELAY_SECONDS", "soon")
    with pytest.raises(UserError, match="PARTNEROPS_RETRY_DELAY_SECONDS='soon' is not a number"):
        get_settings()


_LOG_PROBE = """
import io, logging, os
from airflow.sdk.log import configure_logging
out = io.StringIO()
configure_logging(output=out, colored_console_log=False)
from airflow.sdk import BaseOperator
from airflow.sdk.api.client import log as api_client_log
from partnerops.agreement_dags import CommitmentStatusOperator
CommitmentStatusOperator(task_id="t", commitment_id="c").log.info("commitment status probe")
BaseOperator(task_id="u").log.info("other operator info probe")
logging.getLogger("some.library").info("library info probe")
api_client_log.error("XCom not found", key="probe")
logging.getLogger("some.library").warning("library warning probe")
print(out.getvalue())
"""


def test_task_logs_show_the_projects_operators_at_info_and_no_xcom_not_found_noise(tmp_path: Path) -> None:
    """Airflow's own logging, configured from airflow_environ(), in a fresh process as a task would."""
    import os
    import subprocess
    import sys

    env = {**os.environ, **airflow_environ(get_settings())}
    env["AIRFLOW_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", _LOG_PROBE], env=env, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert env["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "WARNING"
    assert "commitment status probe" in out
    assert "library warning probe" in out
    assert "other operator info probe" not in out and "library info probe" not in out
    assert "XCom not found" not in out


def test_the_runs_dates_reach_dbt_in_the_environment_and_the_rest_as_vars() -> None:
    from partnerops.dbt import RUN_DATE_VARS, dbt_vars, run_date_env
    from partnerops.settings import FEED_TIMEZONE

    vars_, env = run_date_env(dbt_vars("2026-06-20", {"history_start": "2026-01-01", "late_arrival_days": 45}))
    assert vars_ == {"feed_timezone": FEED_TIMEZONE, "late_arrival_days": 45}
    assert env == {"PARTNEROPS_DBT_VAR_AS_OF": "2026-06-20", "PARTNEROPS_DBT_VAR_HISTORY_START": "2026-01-01",
                   "PARTNEROPS_DBT_VAR_AS_OF_FROM": None}  # unset: none leaks in from the caller
    assert set(RUN_DATE_VARS) == {"as_of", "as_of_from", "history_start"}

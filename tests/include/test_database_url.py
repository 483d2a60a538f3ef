"""The one way to the project database (`partnerops.db.database_url`).

Inside Airflow (a task, a trigger) it is the Airflow connection, never
`PARTNEROPS_DATABASE_URL` and never an embedded server; elsewhere it is
`PARTNEROPS_DATABASE_URL`. "Inside Airflow" is what the Task SDK sets up for a task
process: its supervisor channel (`task_runner.SUPERVISOR_COMMS`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from partnerops import db
from partnerops.errors import UserError


@pytest.fixture
def in_a_task(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """This process looks like an Airflow task process; no connection or URL is set. Returns the data folder."""
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    for name in ("PARTNEROPS_DATABASE_URL", "AIRFLOW_CONN_PARTNEROPS_DB", "AIRFLOW_CONN_PARTNEROPS_LOADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    return tmp_path


def test_outside_airflow_the_cli_reads_partnerops_database_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", "postgresql://cli@db.example:5432/partnerops")
    assert not db.in_airflow_worker()
    assert db.database_url() == "postgresql://cli@db.example:5432/partnerops"


def test_a_task_uses_the_connection_not_the_url(in_a_task: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", "postgresql://cli@elsewhere:5432/wrong")
    url = "postgres://ops:pw@warehouse.internal:6543/partnerops"  # pragma: allowlist secret
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_DB", url)
    assert db.in_airflow_worker()
    assert db.database_url() == url.replace("postgres:", "postgresql:", 1)


def test_a_component_names_its_own_connection(in_a_task: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_DB", "postgresql://ops@warehouse:5432/partnerops")
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_LOADER", "postgresql://loader@warehouse:5432/partnerops")
    assert db.database_url(conn_id="partnerops_loader") == "postgresql://loader@warehouse:5432/partnerops"


def test_a_task_without_a_connection_fails_plainly_and_starts_no_server(in_a_task: Path):
    with pytest.raises(UserError, match=r"no Airflow connection 'partnerops_db'.*AIRFLOW_CONN_PARTNEROPS_DB"):
        db.database_url()
    assert db._embedded_server is None
    assert not (in_a_task / "pgdata").exists()


def test_the_url_keeps_the_connections_libpq_parameters(monkeypatch: pytest.MonkeyPatch):
    """A socket folder or TLS setting kept in the connection's extra reaches the URL; Airflow's own extras do not."""
    # pragma: allowlist nextline secret
    url = "postgresql://ops:pw@/partnerops?host=%2Ftmp%2Fpg&sslmode=require&cursor=dictcursor"
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_DB", url)
    url = db.database_url(conn_id="partnerops_db")
    assert url.startswith("postgresql://ops:pw@/partnerops?")  # pragma: allowlist secret
    assert "host=%2Ftmp%2Fpg" in url and "sslmode=require" in url and "cursor" not in url

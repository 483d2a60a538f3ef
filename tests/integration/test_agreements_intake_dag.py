"""The agreements_intake DAG, run with `airflow dags test`, takes in the sample corpus.

Airflow runs as a subprocess with the project's own configuration (`airflow_environ`),
its metadata in a throwaway SQLite file (`dags test` runs tasks one at a time), and the
project database pointed at the test database.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from partnerops.agreements.sample import write_sample_corpus
from partnerops.settings import airflow_environ, get_settings

pytestmark = pytest.mark.integration
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture
def airflow_env(project_env: Path, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    inbox = tmp_path / "inbox"
    write_sample_corpus(inbox, brands=160, groups=110, seed=7, year=2026)
    monkeypatch.setenv("PARTNEROPS_AGREEMENTS_INBOX", str(inbox))
    env = {**os.environ, **airflow_environ(get_settings(), db_url)}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{tmp_path / 'airflow.db'}"
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return env


def _dags_test(env: dict[str, str], logical_date: str) -> None:
    run = subprocess.run([AIRFLOW, "dags", "test", "agreements_intake", logical_date],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]


def _last_intake_run(db_url: str) -> tuple[str, int, int, int]:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select triggered_by, files_loaded, files_unchanged, files_quarantined
                         from raw.intake_runs order by intake_run_id desc limit 1""")
        return cur.fetchone()


def _airflow_state(env: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Asset events recorded, and the state of each task in the latest run."""
    path = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        events = conn.execute(
            """select count(*) from asset_event e join asset a on a.id = e.asset_id
                where a.name = 'partnerops.agreements'"""
        ).fetchone()[0]
        states = dict(conn.execute(
            """select task_id, state from task_instance
                where run_id = (select run_id from dag_run order by id desc limit 1)"""
        ).fetchall())
    return events, states


def test_intake_dag_loads_the_sample_corpus_then_reports_it_unchanged(airflow_env, db_url):
    _dags_test(airflow_env, "2026-11-24")
    assert _last_intake_run(db_url) == ("airflow", 160, 0, 0)
    events, states = _airflow_state(airflow_env)
    assert states == {"take_in_agreements": "success", "any_agreement_changed": "success",
                      "publish_agreements": "success"}
    assert events == 1
    registry = get_settings().registry_path.read_text("utf-8")
    assert registry.count('"agreement_id"') == 160

    _dags_test(airflow_env, "2026-11-25")
    assert _last_intake_run(db_url) == ("airflow", 0, 160, 0)
    events, states = _airflow_state(airflow_env)
    assert states["publish_agreements"] == "skipped"
    assert events == 1, "an unchanged intake must not schedule commitment tracking again"
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(*) filter (where is_current) from raw.agreement_versions")
        assert cur.fetchone() == (160, 160)

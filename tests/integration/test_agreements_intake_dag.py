"""The agreements_intake DAG, run with `airflow dags test`, takes in the sample corpus.

Airflow runs as a subprocess with the project's own configuration (`airflow_environ`),
its metadata in a throwaway PostgreSQL database cloned from the session's migrated template
(`dags test` runs tasks one at a time, so no scheduler is needed), and the project database
pointed at the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from partnerops.agreements.sample import write_sample_corpus
from partnerops.db import create_database, drop_database, with_database
from partnerops.settings import airflow_environ, get_settings

pytestmark = pytest.mark.integration
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture
def meta_url(admin_url: str, airflow_meta_template: str) -> Iterator[str]:
    """A throwaway Airflow metadata database, cloned from the session's migrated template."""
    name = f"af_meta_{uuid.uuid4().hex[:10]}"
    create_database(admin_url, name, template=airflow_meta_template)
    yield with_database(admin_url, name)
    drop_database(admin_url, name)


@pytest.fixture
def airflow_env(project_env: Path, tmp_path: Path, db_url: str, meta_url: str,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    inbox = tmp_path / "inbox"
    write_sample_corpus(inbox, brands=160, groups=110, seed=7, year=2026)
    monkeypatch.setenv("PARTNEROPS_AGREEMENTS_INBOX", str(inbox))
    env = {**os.environ, **airflow_environ(get_settings(), db_url)}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = meta_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    return env


def _dags_test(env: dict[str, str], logical_date: str) -> None:
    # only the DAG's own file is parsed (tests/dags parse the whole folder)
    dag_file = get_settings().dags_folder / "agreements_intake.py"
    run = subprocess.run([AIRFLOW, "dags", "test", "agreements_intake", logical_date, "--dagfile-path", str(dag_file)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]


def _last_intake_run(db_url: str) -> tuple[str, int, int, int]:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select triggered_by, files_loaded, files_unchanged, files_quarantined
                         from raw.intake_runs order by intake_run_id desc limit 1""")
        return cur.fetchone()


def _airflow_state(meta_url: str) -> tuple[int, dict[str, str]]:
    """Asset events recorded, and the state of each task in the latest run."""
    conn = psycopg2.connect(meta_url)
    try:
        with conn.cursor() as cur:
            cur.execute("""select count(*) from asset_event e join asset a on a.id = e.asset_id
                            where a.name = 'partnerops.agreements'""")
            events = cur.fetchone()[0]
            cur.execute("""select task_id, state from task_instance
                            where run_id = (select run_id from dag_run order by id desc limit 1)""")
            states = dict(cur.fetchall())
    finally:
        conn.close()
    return events, states


def test_intake_dag_loads_the_sample_corpus_then_reports_it_unchanged(airflow_env, meta_url, db_url):
    _dags_test(airflow_env, "2026-11-24")
    assert _last_intake_run(db_url) == ("airflow", 160, 0, 0)
    events, states = _airflow_state(meta_url)
    assert states == {"take_in_agreements": "success", "any_agreement_changed": "success",
                      "publish_agreements": "success"}
    assert events == 1
    registry = get_settings().registry_path.read_text("utf-8")
    assert registry.count('"agreement_id"') == 160

    _dags_test(airflow_env, "2026-11-25")
    assert _last_intake_run(db_url) == ("airflow", 0, 160, 0)
    events, states = _airflow_state(meta_url)
    assert states["publish_agreements"] == "skipped"
    assert events == 1, "an unchanged intake must not schedule commitment tracking again"
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(*) filter (where is_current) from raw.agreement_versions")
        assert cur.fetchone() == (160, 160)

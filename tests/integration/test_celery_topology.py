"""The deployed topology, run for real: the main job on two Celery workers, one of them killed mid-task.

The session's Airflow (`airflow_runtime` in conftest.py) runs as docker-compose.yml does, minus
the containers: `api-server`, `scheduler`, `dag-processor`, `triggerer` and two `airflow
celery worker`s, each in a folder of its own, sharing only the databases, the broker and the
project's data folder, with the FAB login and Airflow's settings from `settings.AIRFLOW_CONFIG`.
The main job runs through it end to end (`delivered`, then `tracked`): agreements intake from
the inbox, the six evidence DAGs on simulated feed files (with the simulator's default faults:
duplicates and bad rows), commitment tracking (Cosmos), then, on its Asset event, `sla_alerts`
(whose worker is killed mid-send: test_sla_alerts_dag.py) and agreements' DAGs. Here: every
effect happened exactly once, and both workers did the work.
"""

from __future__ import annotations

import psutil
import pytest
from agreement_runs import commitment_task_states
from db_query import query

from partnerops import agreement_dags as ad
from partnerops.settings import FAB_AUTH_MANAGER

pytestmark = pytest.mark.integration


def test_the_components_run_as_deployed(airflow_runtime):
    env = airflow_runtime.env
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    workers = {name: proc for name, proc in airflow_runtime.processes.items() if name.startswith("worker-")}
    assert len(workers) == 2 and all(proc.poll() is None for proc in workers.values())
    homes = {airflow_runtime.home(name) for name in airflow_runtime.processes}
    assert len(homes) == len(airflow_runtime.processes), "each component runs in a folder of its own"
    for name, proc in airflow_runtime.processes.items():
        assert psutil.Process(proc.pid).cwd() == str(airflow_runtime.home(name))


def test_intake_takes_in_each_agreement_file_once(delivered, tracking_project):
    assert len(delivered.entries) == delivered.agreement_files > 0
    assert query(tracking_project.url, "select count(*) from raw.agreement_versions") == [(delivered.agreement_files,)]


def test_the_evidence_dags_load_each_file_and_row_once(delivered, tracking_project):
    url = tracking_project.url
    assert len(delivered.evidence_runs) == 6
    assert {run["state"] for run in delivered.evidence_runs.values()} == {"success"}, delivered.evidence_runs
    assert query(url, """select feed, file_path from raw.evidence_loads where status = 'loaded'
                          group by 1, 2 having count(*) > 1""") == []
    # no content twice under two names (but for empty files: each empty delivery of a feed is a
    # delivery of its own, which says the feed is alive)
    assert query(url, """select feed, content_hash from raw.evidence_loads where status = 'loaded' and rows_in_file > 0
                          group by 1, 2 having count(*) > 1""") == []
    # the raw tables hold each loaded row once; the files also hold duplicates and bad rows (the
    # simulator's default faults), which the load manifest counts apart
    loaded = {feed: rest for feed, *rest in query(
        url, """select feed, sum(rows_in_file), sum(rows_loaded), sum(rows_duplicate), sum(rows_quarantined)
                  from raw.evidence_loads where triggered_by like 'airflow:%%' group by feed""")}
    assert loaded["orders"][1] > 0 and loaded["shipments"][1] > 0, loaded
    assert sum(v[2] + v[3] for v in loaded.values()) > 0, "the simulated files held no duplicate or bad row"
    assert query(url, "select count(*) from raw.orders") == [(loaded["orders"][1],)]
    assert query(url, "select count(*) from raw.shipments") == [(loaded["shipments"][1],)]


def test_the_asset_triggered_agreement_runs_match_the_marts(tracked, delivered, airflow_runtime):
    assert tracked.agreement_runs
    entries = {ad.dag_id_for(e["agreement_id"]): e for e in delivered.entries}
    for dag_id, result in tracked.agreement_runs.items():
        entry = entries[dag_id]
        assert result.state == "success", f"{dag_id}: {result.failed_tasks}"
        statuses = {c["id"]: "not_listed" for c in entry["commitments"]}
        statuses.update(tracked.agreement_statuses[dag_id])
        live = {cid: ad.task_state_for(status) for cid, status in statuses.items()}
        states = commitment_task_states(airflow_runtime, dag_id, result.run_id, entry)
        assert states == {cid: "skipped" if s == "deferred" else s for cid, s in live.items()}, statuses


def test_both_workers_run_tasks(delivered, tracked):
    assert delivered.evidence_workers == {"worker-1", "worker-2"}, "the evidence DAGs ran on one worker only"
    assert tracked.killed_worker in ("worker-1", "worker-2")

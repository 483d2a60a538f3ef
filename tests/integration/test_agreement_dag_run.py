"""A per-agreement DAG under a running scheduler: its task states match the status mart for the day.

The harness (tests/integration/conftest.py) runs Airflow on a project database with the
sample agreements, every evidence feed fresh (empty but for the last two days, so missing
evidence reads as at risk or breached rather than insufficient data), and commitment_tracking
built for a fixed date.
One agreement's DAG is run for that date (`agreement_run`). While the run's decision window
is open, at-risk commitments wait deferred and decisions wait for input; when it closes, the
run ends `success` even with breached commitments (a breach is not a pipeline failure).
"""

from __future__ import annotations

import json

import pytest
from agreement_runs import commitment_task_states

from partnerops import agreement_dags as ad

pytestmark = pytest.mark.integration


def test_airflow_lists_one_dag_per_sample_agreement(airflow_runtime, delivered):
    entries = delivered.entries
    af = airflow_runtime
    for entry in entries:
        af.wait_for_dag(ad.dag_id_for(entry["agreement_id"]))
    listed = af.api("GET", "/dags", params={"dag_id_pattern": ad.DAG_ID_PREFIX, "limit": 1000})["dags"]
    agreement_dags = sorted(d["dag_id"] for d in listed if d["dag_id"].startswith(ad.DAG_ID_PREFIX))
    assert agreement_dags == sorted(ad.dag_id_for(e["agreement_id"]) for e in entries)
    assert len(entries) >= 10


def test_one_agreement_run_matches_the_marts(agreement_run):
    run = agreement_run
    expected_live = {cid: ad.task_state_for(s) for cid, s in run.expected_status.items()}
    assert len(set(expected_live.values())) >= 2, f"sample data too uniform to test: {run.expected_status}"
    assert run.live == expected_live, f"statuses {run.expected_status}"

    needs = [cid for cid, s in run.expected_status.items() if s in ad.DECISION_STATUSES]
    assert needs, f"no commitment awaits a decision: {run.expected_status}"
    assert run.decision_task_count == len(needs)

    expected_final = {cid: "skipped" if state == "deferred" else state for cid, state in expected_live.items()}
    assert run.final == expected_final
    assert run.result.state == "success", "only a pipeline failure fails the run"
    assert run.result.task_states[ad.READ_TASK_ID] == "success"
    assert run.result.task_states[ad.SCORECARD_TASK_ID] == "success"


def test_the_run_note_sums_up_health_and_a_commitment_log_says_why(agreement_run, airflow_runtime, tracked):
    run, af = agreement_run, airflow_runtime
    counts: dict[str, int] = {}
    for status in run.expected_status.values():
        counts[status] = counts.get(status, 0) + 1
    note = af.api("GET", f"/dags/{run.dag_id}/dagRuns/{run.result.run_id}")["note"]
    assert note == f"{ad.summary_line(counts)} (as of {tracked.as_of})"
    commitment = next(c for c in run.entry["commitments"] if run.expected_status[c["id"]] != "not_listed")
    task_id = f"{commitment['pillar']}.{ad.task_id_for(commitment['id'])}"
    log = json.dumps(af.api("GET", f"/dags/{run.dag_id}/dagRuns/{run.result.run_id}/taskInstances/{task_id}/logs/1",
                            params={"full_content": True}))
    status = run.expected_status[commitment["id"]]
    assert f"{commitment['id']} is " in log and f"({status})" in log, log[:2000]
    assert "why: " in log and "evidence so far: " in log and "progress: " in log, log[:2000]


def test_a_pipeline_failure_looks_different_from_a_breach(agreement_run, airflow_runtime):
    """No marts for the date: read_marts fails after its retries, every commitment is upstream_failed."""
    entry, result = agreement_run.failing_run
    dag_id = ad.dag_id_for(entry["agreement_id"])
    assert result.state == "failed"
    assert result.task_states[ad.READ_TASK_ID] == "failed"
    read = airflow_runtime.api("GET", f"/dags/{dag_id}/dagRuns/{result.run_id}/taskInstances/{ad.READ_TASK_ID}")
    assert read["try_number"] == 3, "read_marts is tried once and retried twice before it fails"
    assert set(commitment_task_states(airflow_runtime, dag_id, result.run_id, entry).values()) == {"upstream_failed"}
    assert result.task_states[ad.SCORECARD_TASK_ID] == "failed"

"""A per-agreement DAG under a running scheduler: its task states match the status mart for the day.

The harness (tests/integration/conftest.py) runs Airflow on a project database with the
sample agreements; here feeds are marked fresh (one empty load per feed, so that missing
evidence reads as at risk or breached rather than insufficient data), commitment_tracking
builds the marts for today, and one agreement's DAG is run for that date. While the run's
decision window is open, at-risk commitments wait deferred and decisions wait for input;
when it closes, the run ends `success` even with breached commitments (a breach is not a
pipeline failure).
"""

from __future__ import annotations

import json
import time

import psycopg2
import pytest

from partnerops import agreement_dags as ad
from partnerops import as_of, tracking
from partnerops.registry import read_registry

pytestmark = pytest.mark.integration

SETTLED = {"success", "skipped", "failed", "deferred", "upstream_failed"}
OPEN_STATES = {None, "scheduled", "queued", "running", "up_for_retry", "up_for_reschedule", "restarting"}


def today() -> str:
    return as_of.today().isoformat()


def mark_feeds_fresh(url: str) -> None:
    """One empty load per evidence feed, arrived now and covering every day since before the terms
    began: the feeds are fresh and complete, the evidence absent (so misses are provable)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""insert into raw.evidence_loads (feed, file_path, content_hash, arrived_at, status,
                                                       triggered_by, finished_at, min_business_date,
                                                       max_business_date)
                       select feed, 'agdag-test/' || feed, md5(feed || now()::text), now() - interval '1 minute',
                              'loaded', 'test', now(), date '2025-01-01', current_date - 1
                         from unnest(array['orders', 'shipments', 'campaign_executions', 'channel_listings',
                                           'data_deliveries', 'attestations']) as feed""")


def mart_rows(url: str, as_of: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('marts.commitment_statuses')")
        if cur.fetchone()[0] is None:
            return 0
        cur.execute("select count(*) from marts.commitment_statuses where as_of_date = %s", (as_of,))
        return cur.fetchone()[0]


def run_tracking(af, as_of: str) -> None:
    af.wait_for_dag(tracking.DAG_ID)
    af.unpause(tracking.DAG_ID)
    run_id = af.trigger(tracking.DAG_ID, conf={"as_of": as_of})
    result = af.wait_for_run(tracking.DAG_ID, run_id, timeout=900)
    assert result.state == "success", result.failed_tasks


def mart_statuses(url: str, agreement_id: str, as_of: str) -> dict[str, str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select commitment_id, array_agg(status) from marts.commitment_statuses
                        where as_of_date = %s and agreement_id = %s group by commitment_id""", (as_of, agreement_id))
        return {cid: ad.commitment_status(statuses) for cid, statuses in cur.fetchall()}


def commitment_task_states(af, dag_id: str, run_id: str, entry: dict) -> dict[str, str | None]:
    states = af.task_states(dag_id, run_id)
    return {c["id"]: states.get(f"{c['pillar']}.{ad.task_id_for(c['id'])}") for c in entry["commitments"]}


def wait_until(predicate, timeout: float, what: str, poll: float = 2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def tracked(airflow_runtime, tracking_project):
    """Today's marts, with fresh feeds; the registry's agreements."""
    as_of = today()
    if mart_rows(tracking_project.url, as_of) == 0:
        mark_feeds_fresh(tracking_project.url)
        run_tracking(airflow_runtime, as_of)
    return as_of, read_registry(tracking_project.settings.registry_path)


def test_airflow_dags_list_shows_one_dag_per_sample_agreement(airflow_runtime, tracked):
    _, entries = tracked
    af = airflow_runtime
    for entry in entries:
        af.wait_for_dag(ad.dag_id_for(entry["agreement_id"]))
    listed = json.loads(af.airflow("dags", "list", "-o", "json").stdout.strip().splitlines()[-1])
    agreement_dags = sorted(d["dag_id"] for d in listed if d["dag_id"].startswith(ad.DAG_ID_PREFIX))
    assert agreement_dags == sorted(ad.dag_id_for(e["agreement_id"]) for e in entries)
    assert len(entries) >= 10


def test_one_agreement_run_matches_the_marts(airflow_runtime, tracking_project, tracked):
    as_of, entries = tracked
    af = airflow_runtime
    # the agreement whose commitments show the most different states today
    by_variety = sorted(entries, key=lambda e: -len({ad.task_state_for(s) for s in mart_statuses(
        tracking_project.url, e["agreement_id"], as_of).values()}))
    entry = by_variety[0]
    expected_status = {c["id"]: "not_listed" for c in entry["commitments"]}
    expected_status.update(mart_statuses(tracking_project.url, entry["agreement_id"], as_of))
    expected_live = {cid: ad.task_state_for(s) for cid, s in expected_status.items()}
    assert len(set(expected_live.values())) >= 2, f"sample data too uniform to test: {expected_status}"

    dag_id = ad.dag_id_for(entry["agreement_id"])
    af.wait_for_dag(dag_id)
    af.unpause(dag_id)
    try:
        run_id = af.trigger(dag_id, conf={"as_of": as_of, "decision_window_minutes": 1.5})
        live = wait_until(
            lambda: (s := commitment_task_states(af, dag_id, run_id, entry))
            and all(v in SETTLED for v in s.values()) and s,
            timeout=300, what="every commitment task to settle")
        assert live == expected_live, f"statuses {expected_status}"

        needs = [cid for cid, s in expected_status.items() if s in ad.DECISION_STATUSES]
        if needs:
            mapped = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/listMapped")
            assert mapped["total_entries"] == len(needs)

        result = af.wait_for_run(dag_id, run_id, timeout=420)
    finally:
        af.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    final = commitment_task_states(af, dag_id, run_id, entry)
    expected_final = {cid: "skipped" if state == "deferred" else state for cid, state in expected_live.items()}
    assert final == expected_final
    assert result.state == "success", "only a pipeline failure fails the run"
    assert result.task_states[ad.READ_TASK_ID] == "success"
    assert result.task_states[ad.SCORECARD_TASK_ID] == "success"

    # the run's note sums up its health, and a commitment task's log says its status and why
    counts: dict[str, int] = {}
    for status in expected_status.values():
        counts[status] = counts.get(status, 0) + 1
    assert af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["note"] == f"{ad.summary_line(counts)} (as of {as_of})"
    listed = [c for c in entry["commitments"] if c["id"] in mart_statuses(tracking_project.url, entry["agreement_id"],
                                                                          as_of)]
    commitment = listed[0]
    task_id = f"{commitment['pillar']}.{ad.task_id_for(commitment['id'])}"
    log = json.dumps(af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1",
                            params={"full_content": True}))
    status = expected_status[commitment["id"]]
    assert f"{commitment['id']} is " in log and f"({status})" in log, log[:2000]
    assert "why: " in log and "evidence so far: " in log and "progress: " in log, log[:2000]


def test_a_pipeline_failure_looks_different_from_a_breach(airflow_runtime, tracking_project):
    """No marts for the date: read_marts fails after its retries, every commitment is upstream_failed."""
    af = airflow_runtime
    entry = read_registry(tracking_project.settings.registry_path)[-1]
    dag_id = ad.dag_id_for(entry["agreement_id"])
    af.wait_for_dag(dag_id)
    af.unpause(dag_id)
    try:
        run_id = af.trigger(dag_id, conf={"as_of": "2020-01-01", "decision_window_minutes": 1})
        result = af.wait_for_run(dag_id, run_id, timeout=600)
    finally:
        af.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    assert result.state == "failed"
    assert result.task_states[ad.READ_TASK_ID] == "failed"
    assert set(commitment_task_states(af, dag_id, run_id, entry).values()) == {"upstream_failed"}
    assert result.task_states[ad.SCORECARD_TASK_ID] == "failed"

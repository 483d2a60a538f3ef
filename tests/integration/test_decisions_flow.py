"""A waiver recorded through the UI path changes the commitment's status on the next tracking run.

Under the running-scheduler harness: a per-agreement DAG run asks for decisions on its
breached and at-risk commitments (human-in-the-loop, Required Actions); the test answers one
through Airflow's REST API as the UI does (PATCH .../hitlDetails, logged in as `admin`),
then checks the decision row (who, when, why), runs commitment_tracking again for the same
date, and finds the commitment `waived` in the status mart, in its status history, and
green in the agreement's next run.
"""

from __future__ import annotations

import psycopg2
import pytest

# helpers shared with the per-agreement run test (tests/ is not a package: import by module name)
from test_agreement_dag_run import (
    SETTLED,
    commitment_task_states,
    mark_feeds_fresh,
    mart_rows,
    run_tracking,
    today,
    wait_until,
)

from partnerops import agreement_dags as ad
from partnerops.registry import read_registry

pytestmark = pytest.mark.integration

COMMENT = "Brand's warehouse move was agreed in the QBR; waive this instance (agdag test)"


def _instances(url: str, as_of: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select agreement_id, commitment_id, commitment_instance_id, status, status_reason
                         from marts.commitment_statuses where as_of_date = %s
                        order by agreement_id, commitment_id, instance_key""", (as_of,))
        return cur.fetchall()


def _hitl_map_index(af, dag_id: str, run_id: str, commitment_id: str) -> int | None:
    """The map index of the decision task asking about `commitment_id`, once it awaits input."""
    mapped = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/listMapped")
    for ti in mapped["task_instances"]:
        if ti["state"] != "awaiting_input":
            continue
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/{ti['map_index']}/hitlDetails"
        detail = af.api("GET", path)
        if f": {commitment_id} is " in detail["subject"]:
            return ti["map_index"]
    return None


def test_waiver_through_required_actions_changes_status_on_next_tracking_run(airflow_runtime, tracking_project):
    af, url, as_of = airflow_runtime, tracking_project.url, today()
    if mart_rows(url, as_of) == 0:
        mark_feeds_fresh(url)
        run_tracking(af, as_of)
    entries = {e["agreement_id"]: e for e in read_registry(tracking_project.settings.registry_path)}
    breached = [r for r in _instances(url, as_of) if r[3] == "breached" and r[0] in entries]
    assert breached, "the sample data has no breached commitment today; cannot test a waiver"
    agreement_id, commitment_id = breached[0][0], breached[0][1]
    instance_ids = {r[2] for r in _instances(url, as_of) if r[:2] == (agreement_id, commitment_id)
                    and r[3] in ad.DECISION_STATUSES}
    entry = entries[agreement_id]
    dag_id = ad.dag_id_for(agreement_id)

    af.wait_for_dag(dag_id)
    af.unpause(dag_id)
    try:
        run_id = af.trigger(dag_id, conf={"as_of": as_of, "decision_window_minutes": 4})
        map_index = wait_until(lambda: _hitl_map_index(af, dag_id, run_id, commitment_id), timeout=300,
                               what=f"a Required Action for {commitment_id}")
        # the decision task and the commitment's own task run side by side: wait for the latter to settle
        before = wait_until(
            lambda: (state := commitment_task_states(af, dag_id, run_id, entry)[commitment_id]) in SETTLED and state,
            timeout=300, what=f"the task of {commitment_id} to settle")
        assert before == "failed"

        # While this run waits for the decision, the agreement's next run starts all the same.
        next_run_id = af.trigger(dag_id, conf={"as_of": as_of, "decision_window_minutes": 1})
        wait_until(lambda: af.api("GET", f"/dags/{dag_id}/dagRuns/{next_run_id}")["state"] == "running",
                   timeout=120, what="the next run to start while a decision is open")
        assert af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"] == "running"

        # What the UI does when the account manager answers the Required Action.
        af.api("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/{map_index}/hitlDetails",
               json={"chosen_options": ["Waive"], "params_input": {"comment": COMMENT}})

        def decision_task_state():
            mapped = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/listMapped")
            state = next(t["state"] for t in mapped["task_instances"] if t["map_index"] == map_index)
            return state if state in ("success", "failed") else None

        assert wait_until(decision_task_state, timeout=300, what="the decision task to resume") == "success"
        af.wait_for_run(dag_id, run_id, timeout=600)
        af.wait_for_run(dag_id, next_run_id, timeout=600)
    finally:
        af.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select decision, comment, decided_by, decided_at is not null, instance_key
                         from raw.commitment_decisions where agreement_id = %s and commitment_id = %s""",
                    (agreement_id, commitment_id))
        rows = cur.fetchall()
    assert rows and all(r[:4] == ("waive", COMMENT, "admin", True) for r in rows), rows
    assert len(rows) == len(instance_ids)

    # The next tracking run (same date, re-run) turns the decision into `waived`.
    run_tracking(af, as_of)
    after = {r[2]: (r[3], r[4]) for r in _instances(url, as_of) if r[:2] == (agreement_id, commitment_id)}
    assert {iid: after[iid][0] for iid in instance_ids} == dict.fromkeys(instance_ids, "waived")
    assert all(after[iid][1].startswith("waived by admin: Brand") for iid in instance_ids)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select table_schema from information_schema.tables
                        where table_name = 'commitment_status_snapshots'""")
        found = cur.fetchone()
        if found:  # the status history (dbt snapshot) records the change
            cur.execute(f"""select count(*) from "{found[0]}".commitment_status_snapshots
                             where commitment_instance_id = any(%s) and status = 'waived'""", (list(instance_ids),))
            assert cur.fetchone()[0] == len(instance_ids)

    # ... and the agreement's next run shows the commitment green.
    af.unpause(dag_id)
    try:
        run_id = af.trigger(dag_id, conf={"as_of": as_of, "decision_window_minutes": 0.5})
        af.wait_for_run(dag_id, run_id, timeout=600)
    finally:
        af.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    still_open = {r[3] for r in _instances(url, as_of) if r[:2] == (agreement_id, commitment_id)}
    expected = ad.task_state_for(ad.commitment_status(still_open))
    assert commitment_task_states(af, dag_id, run_id, entry)[commitment_id] == (
        "skipped" if expected == "deferred" else expected)
    if still_open == {"waived"}:
        assert expected == "success"

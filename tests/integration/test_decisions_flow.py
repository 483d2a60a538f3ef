"""A waiver recorded through the UI path changes the commitment's status on the next tracking run.

Under the running-scheduler harness: the shared per-agreement run (`agreement_run` in
conftest.py) asks for decisions on its breached and at-risk commitments (human-in-the-loop,
Required Actions); the account manager opens the Required Action in the Airflow UI, whose
form refuses a blank comment, and answers through Airflow's REST API as the UI does (PATCH
.../hitlDetails, logged in through FAB as the agreement's account manager, after another
account manager was refused). Here: who may answer, the form, the decision row (who, when, why);
after commitment tracking is computed again for the same date (the tracking DAG's `dbt
build`), the commitment `waived` in the status mart and in its status history; and green in
the agreement's next run.
"""

from __future__ import annotations

import pytest
from agreement_runs import WAIVER_COMMENT, commitment_task_states, instances
from db_query import query
from fab_login import OPS_LEAD

pytestmark = pytest.mark.integration


def test_only_the_agreements_account_manager_may_decide(agreement_run):
    run = agreement_run
    # the request is assigned to the account manager, and to the escalation person (role Op)
    assert [u["name"] for u in run.assigned_users] == [run.account_manager, OPS_LEAD]
    # another account manager may not even read this agreement's DAG (the FAB login's DAG access)
    status, body = run.refused
    assert status == 403, body
    assert run.decision_state == "success", "the account manager's own answer went through"


def test_the_ui_sends_no_blank_comment(agreement_run):
    """The Required Action's form in the Airflow UI, as the account manager, before they answered."""
    blank_refused, required_shown, filled_accepted = agreement_run.form
    assert blank_refused, "the Waive button is enabled with the comment blank"
    assert required_shown, "the form does not say the comment is required"
    assert filled_accepted, "the Waive button stays disabled once the comment is filled in"


def test_the_answer_is_recorded_with_who_when_and_why(agreement_run, tracking_project):
    run = agreement_run
    assert run.decision_state == "success"
    rows = query(tracking_project.url, """select decision, comment, decided_by, decided_at, recorded_at
                                            from raw.commitment_decisions
                                            where agreement_id = %s and commitment_id = %s""",
                  (run.entry["agreement_id"], run.waived_commitment))
    assert [r[:3] for r in rows] == [("waive", WAIVER_COMMENT, run.account_manager)] * len(run.waived_instances)
    assert all(r[3] is not None and r[3].tzinfo is not None for r in rows), "the time of the answer"


def test_the_next_tracking_run_shows_the_commitment_waived(agreement_run, tracking_project, tracked):
    run, url = agreement_run, tracking_project.url
    after = {r[2]: (r[3], r[4]) for r in instances(url, tracked.as_of)
             if r[:2] == (run.entry["agreement_id"], run.waived_commitment)}
    assert {iid: after[iid][0] for iid in run.waived_instances} == dict.fromkeys(run.waived_instances, "waived")
    assert all(after[iid][1].startswith(f"waived by {run.account_manager}: Brand")
               for iid in run.waived_instances), after
    # the status history (dbt snapshot) records the change
    [(waived,)] = query(url, """select count(*) from snapshots.commitment_status_snapshots
                                  where commitment_instance_id = any(%s) and status = 'waived'""",
                        (list(run.waived_instances),))
    assert waived == len(run.waived_instances)


def test_the_agreements_next_run_shows_the_commitment_green(agreement_run, airflow_runtime):
    run = agreement_run
    assert run.next_run.state == "success"
    states = commitment_task_states(airflow_runtime, run.dag_id, run.next_run.run_id, run.entry)
    assert states[run.waived_commitment] == "success"
    assert run.final[run.waived_commitment] == "failed", "it was breached (red) in the run before the waiver"


def test_an_open_decision_blocks_no_run(agreement_run):
    run = agreement_run
    assert run.first_run_state_while_overlapping_ran == "running", "the first run was still waiting for a decision"
    assert run.overlapping_run.state == "success"

"""The deployed login (FAB auth manager): `partnerops users sync` and what an account manager may do.

The session's Airflow (`airflow_runtime` in conftest.py) runs with the deployment's auth
manager (settings.AIRFLOW_CONFIG). `partnerops admin-password` ran before it started, and
`partnerops users sync` twice once intake had written the registry (`delivered`), as the
deployment runs them: subprocesses with its environment. The people file names every account
manager but one (`delivered.account_manager_without_login`), a viewer and the escalation
person. Then, through the REST API, logged in as each person: an account manager reads and may
answer Required Actions only on the DAGs of their own agreements; a viewer reads every DAG and
answers none.
"""

from __future__ import annotations

import base64
import json

import pytest
from fab_login import OPS_LEAD, VIEWER

from partnerops import agreement_dags as ad
from partnerops.people import decision_assignees, identities_path, read_identities

pytestmark = pytest.mark.integration
ANSWER = {"chosen_options": ["Waive"], "params_input": {"comment": "agreed"}}
HITL_PATH = "/dags/{}/dagRuns/nope/taskInstances/" + ad.DECISION_TASK_ID + "/0/hitlDetails"


def _token_subject(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def _managed_by(delivered, login: str) -> list[str]:
    return sorted(ad.dag_id_for(e["agreement_id"]) for e in delivered.entries
                  if e["account_manager"]["email"].lower() == login)


def test_users_sync_creates_the_people_once(delivered):
    first, second, people = delivered.first_sync, delivered.second_sync, len(delivered.passwords)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"{people} created, 0 updated, 0 unchanged" in first.stdout
    assert "Traceback" not in first.stderr
    mine = delivered.entries[0]["account_manager"]["email"].lower()
    assert f"{mine}: reads and decides on {len(_managed_by(delivered, mine))} agreement DAG(s)" in first.stdout
    assert f"warning: account manager {delivered.account_manager_without_login} has no login" in first.stdout
    # idempotent: the second run changes nothing, and keeps the passwords
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"0 created, 0 updated, {people} unchanged" in second.stdout


def test_decision_requests_are_assigned_to_the_fab_identity_of_the_account_manager(delivered, airflow_runtime,
                                                                                    tracking_project):
    identities = read_identities(identities_path(tracking_project.settings.data_dir)) or {}
    entry = delivered.entries[0]
    mine = entry["account_manager"]["email"].lower()
    token = airflow_runtime.token_for(mine, delivered.passwords[mine])
    assigned = decision_assignees(entry, identities)
    # the id Airflow compares (the logged-in user's id, FAB's row number) is the one assigned
    assert [u["id"] for u in assigned][0] == _token_subject(token)
    assert [u["name"] for u in assigned] == [mine, OPS_LEAD]
    # an account manager without a login: only the escalation person
    [orphaned] = [e for e in delivered.entries
                  if e["account_manager"]["email"].lower() == delivered.account_manager_without_login]
    assert [u["name"] for u in decision_assignees(orphaned, identities)] == [OPS_LEAD]


def test_an_account_manager_reads_and_decides_only_on_their_own_agreements(delivered, airflow_runtime):
    af = airflow_runtime
    mine = delivered.entries[0]["account_manager"]["email"].lower()
    own = _managed_by(delivered, mine)
    other = next(ad.dag_id_for(e["agreement_id"]) for e in delivered.entries
                 if ad.dag_id_for(e["agreement_id"]) not in own)
    token = af.token_for(mine, delivered.passwords[mine])
    assert af.api_as(token, "GET", f"/dags/{own[0]}").status_code == 200
    assert af.api_as(token, "GET", f"/dags/{other}").status_code == 403
    listed = af.api_as(token, "GET", "/dags", params={"tags": "agreement", "limit": 100}).json()
    assert sorted(d["dag_id"] for d in listed["dags"]) == own
    assert af.api_as(token, "PATCH", HITL_PATH.format(other), json=ANSWER).status_code == 403
    # on their own DAG the request is let through to the lookup (there is no such run)
    assert af.api_as(token, "PATCH", HITL_PATH.format(own[0]), json=ANSWER).status_code == 404


def test_a_viewer_reads_every_agreement_and_decides_on_none(delivered, airflow_runtime):
    af = airflow_runtime
    token = af.token_for(VIEWER, delivered.passwords[VIEWER])
    listed = af.api_as(token, "GET", "/dags", params={"tags": "agreement", "limit": 100}).json()
    assert {d["dag_id"] for d in listed["dags"]} == {ad.dag_id_for(e["agreement_id"]) for e in delivered.entries}
    own = ad.dag_id_for(delivered.entries[0]["agreement_id"])
    assert af.api_as(token, "PATCH", HITL_PATH.format(own), json=ANSWER).status_code == 403

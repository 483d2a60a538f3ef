"""The deployed login (FAB auth manager): `partnerops users sync` and what an account manager may do.

Airflow's API server and dag-processor run with the deployment's auth manager
(settings.AIRFLOW_CONFIG), LocalExecutor, on a metadata database cloned from the session's
template and migrated with FAB's tables. `partnerops admin-password` and `partnerops users
sync` run as the deployment runs them (subprocesses with its environment). Then, through the
REST API, logged in as each person: an account manager reads and may answer Required Actions
only on the DAGs of their own agreements; a viewer reads every DAG and answers none.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from fab_login import partnerops_cli, prepare_fab, write_people

from partnerops import agreement_dags as ad
from partnerops.agreements.sample import write_sample_corpus
from partnerops.agreements.validate import check_file
from partnerops.airflow_runtime import AirflowRuntime, metadata_url
from partnerops.db import create_database, drop_database
from partnerops.people import decision_assignees, identities_path, read_identities
from partnerops.registry import registry_entry, write_registry
from partnerops.settings import FAB_AUTH_MANAGER, get_settings

pytestmark = [pytest.mark.integration, pytest.mark.scheduler]


@dataclass(frozen=True)
class Fab:
    af: AirflowRuntime
    entries: list[dict]
    people: dict[str, str]  # login -> role
    first_sync: subprocess.CompletedProcess[str]
    second_sync: subprocess.CompletedProcess[str]
    passwords: dict[str, str]
    identities: dict


@pytest.fixture(scope="module")
def fab(admin_url: str, airflow_meta_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fab]:
    data = tmp_path_factory.mktemp("fab")
    settings = replace(get_settings(), data_dir=data, agreements_inbox=data / "inbox" / "agreements")
    corpus = write_sample_corpus(data / "corpus", brands=3, groups=2, seed=11, year=2026)
    entries = [registry_entry(check_file(p).agreement) for p in corpus]
    write_registry(settings.registry_path, entries)
    managers = [e["account_manager"] for e in entries]
    assert len({m["email"] for m in managers}) == 3
    people = {managers[0]["email"]: "AccountManager", managers[1]["email"]: "AccountManager",
              "auditor@partners.example.com": "Viewer", "ops.lead@partners.example.com": "Op"}
    people_file = write_people(data / "people.yaml", people)

    name = f"af_fab_{uuid.uuid4().hex[:10]}"
    create_database(admin_url, name, template=airflow_meta_template)
    af = AirflowRuntime(admin_url, metadata_url(admin_url, name), settings=settings, unpause_new_dags=False,
                        extra_env={"AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER})
    try:
        prepare_fab(af)
        first = partnerops_cli(af.env, "users", "sync", str(people_file))
        second = partnerops_cli(af.env, "users", "sync", str(people_file))
        passwords = json.loads(settings.airflow_passwords_file.read_text())
        af.start(("api-server", "dag-processor"))
        af.wait_ready()
        yield Fab(af=af, entries=entries, people=people, first_sync=first, second_sync=second,
                  passwords=passwords, identities=read_identities(identities_path(data)) or {})
    finally:
        af.stop(5)
        drop_database(admin_url, name)


def _token_subject(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def test_users_sync_creates_the_people_once(fab: Fab):
    assert fab.first_sync.returncode == 0, fab.first_sync.stderr[-3000:]
    assert "4 created, 0 updated, 0 unchanged" in fab.first_sync.stdout
    assert "Traceback" not in fab.first_sync.stderr
    mine = fab.entries[0]["account_manager"]["email"]
    assert f"{mine}: reads and decides on 1 agreement DAG(s)" in fab.first_sync.stdout
    orphan = fab.entries[2]["account_manager"]["email"]
    assert f"warning: account manager {orphan} has no login" in fab.first_sync.stdout
    # idempotent: the second run changes nothing, and keeps the passwords
    assert fab.second_sync.returncode == 0, fab.second_sync.stderr[-3000:]
    assert "0 created, 0 updated, 4 unchanged" in fab.second_sync.stdout
    assert set(fab.people) <= set(fab.passwords)


def test_decision_requests_are_assigned_to_the_fab_identity_of_the_account_manager(fab: Fab):
    mine = fab.entries[0]["account_manager"]["email"]
    token = fab.af.token_for(mine, fab.passwords[mine])
    assigned = decision_assignees(fab.entries[0], fab.identities)
    # the id Airflow compares (the logged-in user's id, FAB's row number) is the one assigned
    assert [u["id"] for u in assigned][0] == _token_subject(token)
    assert [u["name"] for u in assigned] == [mine, "ops.lead@partners.example.com"]
    # an account manager without a login: only the escalation person
    assert [u["name"] for u in decision_assignees(fab.entries[2], fab.identities)] == [
        "ops.lead@partners.example.com"]


def test_an_account_manager_reads_and_decides_only_on_their_own_agreements(fab: Fab):
    af = fab.af
    own, other = (ad.dag_id_for(e["agreement_id"]) for e in fab.entries[:2])
    for dag_id in (own, other):
        af.wait_for_dag(dag_id)
    mine = fab.entries[0]["account_manager"]["email"]
    token = af.token_for(mine, fab.passwords[mine])
    assert af.api_as(token, "GET", f"/dags/{own}").status_code == 200
    assert af.api_as(token, "GET", f"/dags/{other}").status_code == 403
    listed = af.api_as(token, "GET", "/dags", params={"tags": "agreement", "limit": 100}).json()
    assert [d["dag_id"] for d in listed["dags"]] == [own]
    answer = {"chosen_options": ["Waive"], "params_input": {"comment": "agreed"}}
    path = "/dags/{}/dagRuns/nope/taskInstances/" + ad.DECISION_TASK_ID + "/0/hitlDetails"
    assert af.api_as(token, "PATCH", path.format(other), json=answer).status_code == 403
    # on their own DAG the request is let through to the lookup (there is no such run)
    assert af.api_as(token, "PATCH", path.format(own), json=answer).status_code == 404


def test_a_viewer_reads_every_agreement_and_decides_on_none(fab: Fab):
    af = fab.af
    own = ad.dag_id_for(fab.entries[0]["agreement_id"])
    af.wait_for_dag(own)
    token = af.token_for("auditor@partners.example.com", fab.passwords["auditor@partners.example.com"])
    listed = af.api_as(token, "GET", "/dags", params={"tags": "agreement", "limit": 100}).json()
    assert {d["dag_id"] for d in listed["dags"]} == {ad.dag_id_for(e["agreement_id"]) for e in fab.entries}
    path = f"/dags/{own}/dagRuns/nope/taskInstances/{ad.DECISION_TASK_ID}/0/hitlDetails"
    answer = {"chosen_options": ["Waive"], "params_input": {"comment": "agreed"}}
    assert af.api_as(token, "PATCH", path, json=answer).status_code == 403

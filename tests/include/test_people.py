"""People: the people file, who may answer a decision request, the simple auth manager's logins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from partnerops.errors import UserError
from partnerops.people import (
    account_manager_dags,
    decision_assignees,
    ensure_passwords,
    identities_path,
    read_identities,
    read_people_file,
    simple_auth_identities,
    simple_auth_users,
    write_identities,
)

REPO = Path(__file__).resolve().parents[2]

ENTRIES = [
    {"agreement_id": "TM-1", "account_manager": {"name": "Zhang Wei", "email": "Zhang.Wei@partners.example.com"}},
    {"agreement_id": "TM-2", "account_manager": {"name": "Li Na", "email": "li.na@partners.example.com"}},
    {"agreement_id": "TM-3", "account_manager": {"name": "Zhang Wei", "email": "zhang.wei@partners.example.com"}},
]


def test_the_example_people_file_covers_the_example_agreements_account_managers():
    people = read_people_file(REPO / "examples" / "people.yaml")
    roles = {p.login: p.role for p in people.people}
    assert roles["zhang.wei@partners.example.com"] == "AccountManager"
    assert {p.login for p in people.people if p.escalation} == {"chen.jing@partners.example.com"}
    import yaml

    managers = {yaml.safe_load(f.read_text())["account_manager"]["email"]
                for f in (REPO / "examples" / "agreements").glob("*.yaml")}
    assert managers <= {login for login, role in roles.items() if role == "AccountManager"}


@pytest.mark.parametrize(("text", "where"), [
    ("people: [", r"people.yaml:1: not valid YAML"),
    ("- a\n- b\n", r"people.yaml:1: \(document\): a people file is a mapping"),
    ("format_version: 2\npeople: []\n", r"people.yaml:1: format_version: must be 1"),
    ("format_version: 1\npeople:\n  - email: a@example.com\n    name: A\n    role: Admin\n"
     "  - email: not-an-email\n    name: B\n    role: Viewer\n", r"people.yaml:6: people\[1\]\.email: 'not-an-email'"),
    ("format_version: 1\npeople:\n  - email: a@example.com\n    name: A\n    role: Boss\n",
     r"people.yaml:5: people\[0\]\.role: 'Boss' is not a role; use one of Admin, Op, Viewer, AccountManager"),
    ("format_version: 1\npeople:\n  - email: a@example.com\n    name: A\n    role: Op\n    pasword: x\n",
     r"people.yaml:6: people\[0\]\.pasword: unknown field"),
    ("format_version: 1\npeople:\n  - {email: a@example.com, name: A, role: Op}\n"
     "  - {email: A@example.com, name: B, role: Viewer}\n", r"people.yaml:4: people\[1\]\.email: A@example.com is "
                                                            r"listed twice \(also people\[0\]\)"),
    ("format_version: 1\npeople:\n  - {email: a@example.com, name: A, role: Op, escalation: 'yes'}\n",
     r"people.yaml:3: people\[0\]\.escalation: must be true or false"),
])
def test_a_bad_people_file_is_a_located_error(tmp_path: Path, text: str, where: str):
    path = tmp_path / "people.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=where):
        read_people_file(path)


def test_a_missing_people_file_says_so(tmp_path: Path):
    with pytest.raises(UserError, match="no such people file"):
        read_people_file(tmp_path / "nope.yaml")


def test_account_managers_own_the_dags_of_their_agreements_by_email():
    assert account_manager_dags(ENTRIES) == {
        "li.na@partners.example.com": ["agreement__TM-2"],
        "zhang.wei@partners.example.com": ["agreement__TM-1", "agreement__TM-3"],
    }


def test_decision_requests_go_to_the_account_manager_and_the_escalation_people(tmp_path: Path):
    path = identities_path(tmp_path)
    ids = {"zhang.wei@partners.example.com": {"id": "7", "name": "zhang.wei@partners.example.com"},
           "chen.jing@partners.example.com": {"id": "9", "name": "chen.jing@partners.example.com"}}
    assert write_identities(path, ids, ["chen.jing@partners.example.com"]) is True
    assert write_identities(path, ids, ["chen.jing@partners.example.com"]) is False, "unchanged: not rewritten"
    snapshot = read_identities(path)
    assert decision_assignees(ENTRIES[0], snapshot) == [
        {"id": "7", "name": "zhang.wei@partners.example.com"}, {"id": "9", "name": "chen.jing@partners.example.com"}]
    # an account manager without a login: the escalation people only
    assert decision_assignees(ENTRIES[1], snapshot) == [{"id": "9", "name": "chen.jing@partners.example.com"}]
    # ... and with nobody to escalate to, nobody (never "anyone")
    alone = {"people": snapshot["people"], "escalation": []}
    assert [u["id"] for u in decision_assignees(ENTRIES[1], alone)] == ["(nobody)"]
    # before any people are synced: unassigned, as Airflow has it
    assert read_identities(tmp_path / "none.json") is None
    assert decision_assignees(ENTRIES[0], None) == []


def test_simple_auth_manager_logins_one_per_account_manager(tmp_path: Path):
    assert simple_auth_users(ENTRIES, "admin") == ("admin:admin,li.na@partners.example.com:user,"
                                                   "zhang.wei@partners.example.com:user")
    assert simple_auth_identities(ENTRIES)["li.na@partners.example.com"] == {
        "id": "li.na@partners.example.com", "name": "li.na@partners.example.com"}
    path = tmp_path / "passwords.json"
    path.write_text(json.dumps({"admin": "kept"}))
    first = ensure_passwords(path, ["admin", "li.na@partners.example.com"])
    assert first["admin"] == "kept" and len(first["li.na@partners.example.com"]) >= 12
    assert ensure_passwords(path, ["li.na@partners.example.com"]) == first, "re-running keeps the passwords"
    assert path.stat().st_mode & 0o077 == 0


def test_users_sync_with_a_bad_file_is_a_located_error_without_traceback(tmp_path: Path, capsys):
    from partnerops.cli import main

    bad = tmp_path / "people.yaml"
    bad.write_text("format_version: 1\npeople:\n  - email: li.na@partners.example.com\n    name: Li Na\n"
                   "    role: Manager\n")
    assert main(["users", "sync", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"error: {bad}:5: people[0].role: 'Manager' is not a role; use one of Admin, Op, "
                           "Viewer, AccountManager")


def test_users_sync_refuses_the_simple_auth_manager(tmp_path: Path, monkeypatch, capsys):
    from partnerops.cli import main

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple."
                                                      "simple_auth_manager.SimpleAuthManager")
    assert main(["users", "sync", str(REPO / "examples" / "people.yaml")]) == 1
    assert "writes the people into the FAB auth manager" in capsys.readouterr().err

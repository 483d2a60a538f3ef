"""People: who may see and decide what, from a people file to the Airflow login.

The people file (YAML, `examples/people.yaml`; format in the README, "Security") lists the
people who use the Airflow UI, each with an email (their login) and one role:

- `Admin`, `Op`, `Viewer`: Airflow's own roles (everything; operate every DAG; read every DAG);
- `AccountManager`: reads and decides only on the per-agreement DAGs of the agreements whose
  `account_manager.email` is theirs (the DAGs tagged `am:<their name>`).

A person with `escalation: true` may also answer every decision request, besides the
agreement's account manager.

`partnerops users sync` generates them into the FAB auth manager (`sync_fab`): roles, users,
and per-DAG permissions from the registry snapshot. It then writes the identities snapshot
(`identities_path`): each person's id and name as the auth manager knows them. The decision
requests of the per-agreement DAGs (`decision_assignees`) read it when they are raised, so
only the agreement's account manager (and the escalation people) can answer; Airflow's API
refuses anyone else. `make serve` keeps the simple auth manager and generates one login per
account manager of the registry (`simple_auth_users`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from partnerops.agreements.validate import line_of
from partnerops.errors import UserError

__all__ = [
    "ACCOUNT_MANAGER_ROLE",
    "ROLES",
    "Person",
    "PeopleFile",
    "account_manager_dags",
    "decision_assignees",
    "ensure_passwords",
    "fab_in_use",
    "identities_path",
    "read_identities",
    "read_people_file",
    "set_fab_admin_password",
    "simple_auth_identities",
    "simple_auth_users",
    "sync_fab",
    "write_identities",
]

ACCOUNT_MANAGER_ROLE = "AccountManager"
#: The roles a person may have; the first three are Airflow's own.
ROLES: tuple[str, ...] = ("Admin", "Op", "Viewer", ACCOUNT_MANAGER_ROLE)
#: The simple auth manager's role for each of ours (`make serve`).
SIMPLE_AUTH_ROLES: dict[str, str] = {"Admin": "admin", "Op": "op", "Viewer": "viewer",
                                     ACCOUNT_MANAGER_ROLE: "user"}
PEOPLE_FORMAT = 1
_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_FIELDS = {"email", "name", "role", "escalation"}


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: str
    escalation: bool = False

    @property
    def login(self) -> str:
        """The Airflow login: the email, lower case."""
        return self.email.lower()


@dataclass(frozen=True)
class PeopleFile:
    path: Path
    people: tuple[Person, ...]

    def by_login(self) -> dict[str, Person]:
        return {p.login: p for p in self.people}


def read_people_file(path: str | Path) -> PeopleFile:
    """The people in `path`; a `UserError` naming the file, line and field of the first problem."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such people file (see examples/people.yaml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None

    def fail(parts: Sequence[Any], message: str) -> UserError:
        line = line_of(root, parts)
        field = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                        for i, p in enumerate(parts)) or "(document)"
        return UserError(f"{path}{f':{line}' if line else ''}: {field}: {message}")

    if not isinstance(doc, dict):
        raise fail([], "a people file is a mapping with `format_version: 1` and a `people:` list")
    if doc.get("format_version") != PEOPLE_FORMAT:
        raise fail(["format_version"], f"must be {PEOPLE_FORMAT}")
    unknown = set(doc) - {"format_version", "people"}
    if unknown:
        raise fail([sorted(unknown)[0]], "unknown field; a people file has `format_version` and `people`")
    items = doc.get("people")
    if not isinstance(items, list) or not items:
        raise fail(["people"], "must be a list of people (email, name, role)")
    people: list[Person] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise fail(["people", i], "each person is a mapping with email, name and role")
        extra = set(item) - _FIELDS
        if extra:
            raise fail(["people", i, sorted(map(str, extra))[0]],
                       f"unknown field; a person has {', '.join(sorted(_FIELDS))}")
        email = item.get("email")
        if not isinstance(email, str) or not _EMAIL.match(email.strip()):
            raise fail(["people", i, "email"], f"{email!r} is not an email address (it is the login)")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(["people", i, "name"], "give the person's name")
        role = item.get("role")
        if role not in ROLES:
            raise fail(["people", i, "role"], f"{role!r} is not a role; use one of {', '.join(ROLES)}")
        escalation = item.get("escalation", False)
        if not isinstance(escalation, bool):
            raise fail(["people", i, "escalation"], "must be true or false")
        person = Person(email=email.strip(), name=" ".join(name.split()), role=role, escalation=escalation)
        if person.login in seen:
            raise fail(["people", i, "email"], f"{person.email} is listed twice (also people[{seen[person.login]}])")
        seen[person.login] = i
        people.append(person)
    return PeopleFile(path=path, people=tuple(people))


# -- agreements and their account managers ----------------------------------------------------------

def account_manager_dags(entries: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each account manager's login (email, lower case) -> the DAG ids of their agreements."""
    from partnerops.agreement_dags import dag_id_for

    out: dict[str, list[str]] = {}
    for entry in entries:
        email = str((entry.get("account_manager") or {}).get("email") or "").strip().lower()
        if email:
            out.setdefault(email, []).append(dag_id_for(entry["agreement_id"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


# -- identities: who the auth manager says each person is -------------------------------------------

def identities_path(data_dir: Path) -> Path:
    """The identities snapshot, next to the registry snapshot."""
    return data_dir / "registry" / "identities.json"


def write_identities(path: Path, identities: Mapping[str, Mapping[str, str]], escalation: Sequence[str]) -> bool:
    """Write {login: {"id", "name"}} and the escalation logins atomically; False when unchanged."""
    body = json.dumps({"format": 1, "people": {k: dict(v) for k, v in sorted(identities.items())},
                       "escalation": sorted(escalation)}, indent=1, sort_keys=True)
    if path.exists() and path.read_text("utf-8") == body:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".identities.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(body)
    os.replace(tmp, path)
    return True


def read_identities(path: Path) -> dict[str, Any] | None:
    """The identities snapshot, or None when nobody has been synced yet."""
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        return None


def decision_assignees(entry: Mapping[str, Any], identities: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Who may answer a decision request on `entry`: its account manager and the escalation people.

    Without an identities snapshot (no people synced yet) the list is empty: Airflow lets
    anyone with edit rights on the DAG answer, as before. With one, the list is never empty:
    an account manager without a login leaves the decision to the escalation people, and
    with none of those either, to nobody (the decision window closes unanswered).
    """
    if identities is None:
        return []
    known: Mapping[str, Mapping[str, str]] = identities.get("people") or {}
    wanted = [str((entry.get("account_manager") or {}).get("email") or "").strip().lower(),
              *(identities.get("escalation") or [])]
    out: list[dict[str, str]] = []
    for login in wanted:
        ident = known.get(login)
        if ident and dict(ident) not in out:
            out.append({"id": str(ident["id"]), "name": str(ident["name"])})
    return out or [{"id": "(nobody)", "name": "no account manager with a login"}]


# -- the simple auth manager (`make serve`, tests) --------------------------------------------------

def simple_auth_users(entries: Iterable[Mapping[str, Any]], admin_user: str) -> str:
    """`[core] simple_auth_manager_users`: the admin plus one login per account manager of the registry."""
    logins = sorted(account_manager_dags(entries))
    return ",".join([f"{admin_user}:admin", *(f"{login}:{SIMPLE_AUTH_ROLES[ACCOUNT_MANAGER_ROLE]}"
                                              for login in logins)])


def simple_auth_identities(entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Under the simple auth manager a user's id and name are both the login."""
    return {login: {"id": login, "name": login} for login in account_manager_dags(entries)}


def ensure_passwords(path: Path, logins: Iterable[str]) -> dict[str, str]:
    """A password for each login in the passwords file {login: password}; existing ones are kept.

    The simple auth manager reads this file itself; under FAB, `users sync` keeps the
    passwords of the people it created there (mode 0600), to be handed over and changed.
    """
    passwords: dict[str, str] = {}
    if path.exists() and path.read_text().strip():
        passwords = json.loads(path.read_text())
    missing = [login for login in logins if not passwords.get(login)]
    if missing:
        for login in missing:
            passwords[login] = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords, indent=1, sort_keys=True) + "\n")
        path.chmod(0o600)
    return passwords


# -- the FAB auth manager (the deployed setup) ------------------------------------------------------

@dataclass
class SyncReport:
    """What `partnerops users sync` did; `lines()` is what it prints."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    dag_permissions: dict[str, int]
    managers_without_login: dict[str, list[str]]
    identities_path: Path
    passwords_path: Path

    def lines(self) -> list[str]:
        out = [f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"]
        out += [f"created {login} (password in {self.passwords_path}; ask them to change it)"
                for login in self.created]
        out += [f"updated {login}" for login in self.updated]
        out += [f"{login}: reads and decides on {n} agreement DAG(s)" for login, n in self.dag_permissions.items()]
        out += [f"warning: account manager {login} has no login in the people file; decisions on "
                f"{', '.join(dags)} go to the escalation people only" for login, dags in
                self.managers_without_login.items()]
        out.append(f"identities for decision requests: {self.identities_path}")
        return out


def personal_role(login: str) -> str:
    """The FAB role that holds one account manager's per-DAG permissions (FAB allows 64 characters)."""
    import hashlib

    name = f"{ACCOUNT_MANAGER_ROLE} {login}"
    return name if len(name) <= 64 else f"{ACCOUNT_MANAGER_ROLE} {hashlib.sha1(login.encode()).hexdigest()[:16]}"


def fab_in_use() -> bool:
    """Whether Airflow's configuration (environment, airflow.cfg) names the FAB auth manager."""
    from airflow.configuration import conf

    from partnerops.settings import FAB_AUTH_MANAGER

    return conf.get("core", "auth_manager", fallback="") == FAB_AUTH_MANAGER


def set_fab_admin_password(login: str, password: str) -> bool:
    """The FAB `admin` login (role Admin) with `password`; returns True when it was created."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        sm.sync_roles()
        admin = sm.find_role("Admin")
        user = sm.find_user(username=login)
        if user is None:
            sm.add_user(username=login, first_name="Airflow", last_name="Admin", email=f"{login}@localhost",
                        role=admin, password=password)
            return True
        if admin not in user.roles:
            user.roles = [*user.roles, admin]
            sm.update_user(user)
        sm.reset_password(user.id, password)
        return False


def _account_manager_base_permissions(sm: Any) -> list[tuple[str, str]]:
    """Viewer's permissions without "read every DAG", plus answering Required Actions."""
    from airflow.providers.fab.www.security import permissions as p

    base = [perm for perm in sm.VIEWER_PERMISSIONS if perm != (p.ACTION_CAN_READ, p.RESOURCE_DAG)]
    return base + [(p.ACTION_CAN_EDIT, p.RESOURCE_HITL_DETAIL), (p.ACTION_CAN_ACCESS_MENU, p.RESOURCE_HITL_DETAIL)]


def _set_role_permissions(sm: Any, role_name: str, wanted: Iterable[tuple[str, str]]) -> Any:
    """Make `role_name` hold exactly `wanted` (action, resource) permissions; returns the role."""
    role = sm.add_role(role_name)
    wanted = set(wanted)
    have = {(perm.action.name, perm.resource.name): perm for perm in role.permissions}
    for key in sorted(wanted - set(have)):
        sm.add_permission_to_role(role, sm.create_permission(*key))
    for key in sorted(set(have) - wanted):
        sm.remove_permission_from_role(role, have[key])
    return role


def sync_fab(people: PeopleFile, entries: Sequence[Mapping[str, Any]], *, data_dir: Path,
             passwords_path: Path) -> SyncReport:
    """Generate the people file into FAB: roles, users and per-DAG permissions; idempotent.

    Runs with Airflow's configuration (metadata database, FAB auth manager). Roles Admin, Op
    and Viewer are Airflow's; AccountManager is Viewer without "every DAG", plus answering
    Required Actions; each account manager also gets a personal role holding can_read and
    can_edit on `DAG:<id>` of their agreements (the registry snapshot `entries`). A new user
    gets a generated password in `passwords_path`; existing users keep theirs. People no
    longer in the file are left as they are. Writes the identities snapshot last.
    """
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
    from airflow.providers.fab.www.security import permissions as p

    owned = account_manager_dags(entries)
    listed = people.by_login()
    report = SyncReport([], [], [], {}, {login: dags for login, dags in owned.items() if login not in listed},
                        identities_path(data_dir), passwords_path)
    identities: dict[str, dict[str, str]] = {}
    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        sm.sync_roles()  # Airflow's own roles (Admin, Op, Viewer, ...) and their permissions
        _set_role_permissions(sm, ACCOUNT_MANAGER_ROLE, _account_manager_base_permissions(sm))
        new = [person.login for person in people.people if sm.find_user(username=person.login) is None]
        passwords = ensure_passwords(passwords_path, new) if new else {}
        for person in people.people:
            roles = [sm.find_role(person.role)]
            if person.role == ACCOUNT_MANAGER_ROLE:
                dags = owned.get(person.login, [])
                wanted = [(action, p.resource_name(dag_id, p.RESOURCE_DAG))
                          for dag_id in dags for action in (p.ACTION_CAN_READ, p.ACTION_CAN_EDIT)]
                roles.append(_set_role_permissions(sm, personal_role(person.login), wanted))
                report.dag_permissions[person.login] = len(dags)
            first, _, last = person.name.partition(" ")
            user = sm.find_user(username=person.login)
            if user is None:
                user = sm.add_user(username=person.login, first_name=first, last_name=last or "-",
                                   email=person.login, role=roles, password=passwords[person.login])
                report.created.append(person.login)
            elif ({r.name for r in user.roles}, user.email, user.first_name, user.last_name, user.active) != (
                    {r.name for r in roles}, person.login, first, last or "-", True):
                user.roles, user.email, user.first_name, user.last_name, user.active = (
                    roles, person.login, first, last or "-", True)
                if not sm.update_user(user):
                    raise UserError(f"{people.path}: could not update {person.login} in Airflow's user database")
                report.updated.append(person.login)
            else:
                report.unchanged.append(person.login)
            identities[person.login] = {"id": str(user.get_id()), "name": user.get_name()}
    write_identities(report.identities_path, identities, [p_.login for p_ in people.people if p_.escalation])
    return report

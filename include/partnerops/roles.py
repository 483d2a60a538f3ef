"""The database roles of least privilege, their logins, and the reporting logins' scopes.

The migration `0008_database_roles` creates five roles (see docs/deploy.md, "Database
roles"), each allowed exactly what its component does:

- `partnerops_loader`: the agreement intake and the evidence loaders; reads and writes
  their own raw and quarantine tables, nothing else;
- `partnerops_transformer`: dbt; reads raw, owns staging, intermediate, marts, snapshots;
- `partnerops_alerts`: the SLA alerts; reads marts, writes the alert ledger;
- `partnerops_reader`: the Partnerships view and reporting logins; reads marts only;
- `partnerops_migrator`: owns the raw schema (the migrations' tables).

Roles are cluster-wide in PostgreSQL. `PARTNEROPS_DB_ROLE_PREFIX` (default `partnerops_`)
names them, so that several databases on one server (the tests' throwaway ones) can keep
their own set. Creation is idempotent and safe when two migrations run at once.

A role can log in only once its password is set: `PARTNEROPS_DB_<ROLE>_PASSWORD` (e.g.
`PARTNEROPS_DB_LOADER_PASSWORD`). `partnerops db upgrade` applies them on every run (so a
password is changed by changing the variable and running it again); a role whose variable is
unset is created NOLOGIN, or left as it is if it exists, and the command says so.

Reporting logins (an account manager's or a group's own database login) are members of the
reader role with a scope in `access.reporting_scopes`; row-level security on the marts
shows them only the rows of their agreements (`grant_reporting_login`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg2.extensions
from psycopg2 import sql

from partnerops.db import connect
from partnerops.errors import UserError

#: The names of the roles, before the prefix.
ROLE_KEYS: tuple[str, ...] = ("loader", "transformer", "alerts", "reader", "migrator")
#: The environment variable that prefixes the role names.
ROLE_PREFIX_ENV = "PARTNEROPS_DB_ROLE_PREFIX"
DEFAULT_ROLE_PREFIX = "partnerops_"
#: The session setting through which the Partnerships view narrows the marts to one account
#: manager's agreements (it can only narrow what the login may see, never widen it).
ACCOUNT_MANAGER_SETTING = "partnerops.account_manager"


def role_prefix(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    prefix = (env.get(ROLE_PREFIX_ENV) or "").strip() or DEFAULT_ROLE_PREFIX
    if not prefix.replace("_", "").isalnum() or not prefix.isascii() or prefix[0].isdigit() or len(prefix) > 40:
        raise UserError(f"{ROLE_PREFIX_ENV}={prefix!r}: use letters, digits and underscores only "
                        f"(at most 40, not starting with a digit), e.g. {DEFAULT_ROLE_PREFIX}")
    return prefix.lower()


def role_name(key: str, env: Mapping[str, str] | None = None) -> str:
    """The database role for `key` ("loader", "reader", ...), e.g. `partnerops_loader`."""
    if key not in ROLE_KEYS:
        raise ValueError(f"unknown role {key!r}; one of {', '.join(ROLE_KEYS)}")
    return role_prefix(env) + key


def password_env(key: str) -> str:
    """The environment variable holding the password of role `key`."""
    return f"PARTNEROPS_DB_{key.upper()}_PASSWORD"


@dataclass(frozen=True)
class LoginChange:
    role: str
    message: str


def sync_role_logins(url: str, env: Mapping[str, str] | None = None) -> list[LoginChange]:
    """Give each role whose password variable is set (in `env`, default the environment) LOGIN with that
    password; say what was done.

    The password reaches the server already hashed (SCRAM), so no statement log shows it.
    A role whose variable is unset keeps its state; the message says how to let it log in.
    """
    env = os.environ if env is None else env
    changes = []
    with connect(url, autocommit=True) as conn, conn.cursor() as cur:
        for key in ROLE_KEYS:
            role = role_name(key)
            cur.execute("select rolcanlogin from pg_roles where rolname = %s", (role,))
            row = cur.fetchone()
            if row is None:
                changes.append(LoginChange(role, f"{role}: no such role; run `partnerops db upgrade` as a login "
                                                 "that may create roles"))
                continue
            password = env.get(password_env(key)) or ""
            if not password:
                state = "can log in with the password set earlier" if row[0] else "cannot log in (NOLOGIN)"
                changes.append(LoginChange(role, f"{role}: {password_env(key)} is unset, so it {state}; "
                                                 f"its component uses the connection partnerops_db instead"))
                continue
            hashed = psycopg2.extensions.encrypt_password(password, role, conn, "scram-sha-256")
            try:
                cur.execute(sql.SQL("alter role {} login password {}").format(sql.Identifier(role),
                                                                            sql.Literal(hashed)))
            except psycopg2.errors.InsufficientPrivilege:
                raise UserError(f"cannot set the password of {role}: this login may not alter roles. Run "
                                "`partnerops db upgrade` as the database's administrator (CREATEROLE).") from None
            changes.append(LoginChange(role, f"{role}: can log in (password from {password_env(key)})"))
    return changes


def grant_reporting_login(url: str, login: str, *, account_manager: str | None = None,
                          group_id: str | None = None) -> str:
    """Let the existing database login `login` read the marts of one account manager's or one group's
    agreements (row-level security); returns a one-line summary. Run it again to add another scope."""
    if (account_manager is None) == (group_id is None):
        raise UserError("give exactly one of --account-manager EMAIL or --group GROUP_ID")
    reader = role_name("reader")
    if login in {role_name(k) for k in ROLE_KEYS}:
        raise UserError(f"{login} is one of the project's own roles; a reporting login is a person's or a group's")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select rolsuper from pg_roles where rolname = %s", (login,))
        row = cur.fetchone()
        if row is None:
            raise UserError(f"no database login {login!r}; create it first (create role {login} login password ...)")
        if row[0]:
            raise UserError(f"{login} is a superuser, which row-level security never restricts; use another login")
        if account_manager is not None:
            cur.execute("select count(*) from raw.agreement_versions where is_current "
                        "and lower(account_manager_email) = lower(%s)", (account_manager,))
            what = f"account manager {account_manager}"
        else:
            cur.execute("select count(*) from raw.agreement_versions where is_current and group_id = %s", (group_id,))
            what = f"group {group_id}"
        agreements = cur.fetchone()[0]
        if not agreements:
            raise UserError(f"no current agreement of {what}; check the spelling against the agreements' registry")
        cur.execute("""insert into access.reporting_scopes (login, account_manager_email, group_id)
                       values (%s, lower(%s), %s) on conflict do nothing""", (login, account_manager, group_id))
        cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(reader), sql.Identifier(login)))
    return f"{login} reads the marts of {what} ({agreements} agreement(s) today)"

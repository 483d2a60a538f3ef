"""The database roles (migration 0008, `partnerops.roles`): each does its job and is refused the rest.

Every check logs in as the role itself (the server trusts local logins, so LOGIN is what
matters; the password is set as in production, hashed). The role names carry the run's own
prefix (tests/conftest.py), so parallel runs on one server do not share them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.errors
import pytest
import yaml
from db_query import query

from partnerops.agreements.sample import sample_documents
from partnerops.db import create_database, drop_database, with_database
from partnerops.errors import UserError
from partnerops.intake import run_intake
from partnerops.migrations import upgrade
from partnerops.roles import ROLE_KEYS, grant_reporting_login, password_env, role_name, sync_role_logins

PASSWORDS = {password_env(key): f"pw-{key}-{uuid.uuid4().hex[:6]}" for key in ROLE_KEYS}


def as_login(url: str, login: str) -> str:
    """The same database, logged in as `login`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{login}@{parts.hostname}:{parts.port or 5432}"))


def refused(url: str, statement: str) -> bool:
    try:
        query(url, statement)
    except psycopg2.errors.InsufficientPrivilege:
        return True
    return False


@pytest.fixture(scope="module")
def db(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A migrated database with five agreements taken in by the loader, and a mart built by the transformer."""
    name = f"roles_test_{uuid.uuid4().hex[:12]}"
    create_database(admin_url, name)
    url = with_database(admin_url, name)
    try:
        upgrade(url)
        sync_role_logins(url, env=PASSWORDS)
        logins = {key: as_login(url, role_name(key)) for key in ROLE_KEYS}
        folder = tmp_path_factory.mktemp("agreements")
        for doc in sample_documents(brands=5, groups=2, seed=11, year=2026):
            (folder / f"{doc['agreement_id']}.v1.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PARTNEROPS_DATA_DIR", str(tmp_path_factory.mktemp("var")))
            report = run_intake([folder], database_url=logins["loader"], triggered_by="test")
        assert report.count("loaded") == 5, report.summary()
        query(logins["transformer"], """create table marts.portfolio as
                                      select agreement_id, brand_id, group_id from raw.agreement_versions""")
        yield {"admin": url, **logins}
    finally:
        drop_database(admin_url, name)


def test_the_roles_log_in_with_their_passwords_hashed(db):
    rows = dict(query(db["admin"], """select rolname, rolpassword from pg_authid
                                     where rolname = any(%s)""", ([role_name(k) for k in ROLE_KEYS],)))
    assert set(rows) == {role_name(k) for k in ROLE_KEYS}
    for key in ROLE_KEYS:
        stored = rows[role_name(key)]
        assert stored.startswith("SCRAM-SHA-256$") and PASSWORDS[password_env(key)] not in stored
        assert query(db[key], "select current_user") == [(role_name(key),)]


def test_a_role_without_a_password_stays_as_it_is_and_says_so(db):
    messages = {c.role: c.message for c in sync_role_logins(db["admin"], env={})}
    reader = role_name("reader")
    assert f"{password_env('reader')} is unset" in messages[reader] and "password set earlier" in messages[reader]
    assert query(db["reader"], "select 1") == [(1,)]  # still logs in: nothing was taken away


def test_a_database_built_before_the_roles_is_handed_over(db, admin_url):
    """Upgrading a deployment: the roles exist already (created once, granted again here), and
    the marts dbt built with the one login become the transformer's and readable by the reader."""
    name = f"roles_test_{uuid.uuid4().hex[:12]}"
    create_database(admin_url, name)
    url = with_database(admin_url, name)
    try:
        upgrade(url, "0007")
        query(url, "create schema marts; create table marts.built_before as select 'TM-1' as agreement_id")
        upgrade(url)
        assert query(url, "select tableowner from pg_tables where tablename = 'alerts'") == [(role_name("migrator"),)]
        assert query(url, "select tableowner from pg_tables where tablename = 'built_before'") == [
            (role_name("transformer"),)]
        assert query(as_login(url, role_name("reader")), "select agreement_id from marts.built_before") == [("TM-1",)]
        query(as_login(url, role_name("transformer")), "drop table marts.built_before")  # dbt may replace it
    finally:
        drop_database(admin_url, name)


def test_a_database_owner_with_createrole_runs_the_migrations(db, admin_url):
    """The managed-server setup of docs/deploy.md: no superuser, the database's owner may create roles."""
    owner = role_name("reader") + "_owner_test"  # the run's prefix: dropped with its roles
    query(admin_url, f'create role "{owner}" login createrole')
    # The roles exist already (the run's other databases made them, as the superuser). Since
    # PostgreSQL 16 a CREATEROLE login may grant only roles it holds WITH ADMIN OPTION, so the
    # server's admin hands them over that way (docs/deploy.md, "Database roles").
    roles = ", ".join(f'"{role_name(key)}"' for key in ROLE_KEYS)
    query(admin_url, f'grant {roles} to "{owner}" with admin option')
    name = f"roles_test_{uuid.uuid4().hex[:12]}"
    create_database(admin_url, name)
    try:
        query(admin_url, f'alter database "{name}" owner to "{owner}"')
        upgrade(as_login(with_database(admin_url, name), owner))
        url = with_database(admin_url, name)
        assert query(url, "select tableowner from pg_tables where tablename = 'alerts'") == [(role_name("migrator"),)]
        assert query(url, "select schema_owner from information_schema.schemata where schema_name = 'marts'") == [
            (role_name("transformer"),)]
    finally:
        drop_database(admin_url, name)


def test_the_loader_writes_raw_and_nothing_else(db):
    loader = db["loader"]
    assert query(loader, "select count(*) from raw.agreement_versions where is_current") == [(5,)]
    for statement in ("select * from marts.portfolio",
                      "update marts.portfolio set brand_id = 'x'",
                      "insert into raw.alerts (agreement_id) values ('x')",
                      "delete from raw.agreement_versions",
                      "update raw.commitments set title = 'x'",
                      "truncate raw.orders",
                      "create table raw.mine (x int)",
                      "alter table raw.orders add column x int",
                      "create table marts.mine (x int)"):
        assert refused(loader, statement), statement


def test_the_transformer_reads_raw_and_owns_the_dbt_schemas_but_writes_no_raw(db):
    transformer = db["transformer"]
    assert query(transformer, "select count(*) from marts.portfolio") == [(5,)]
    query(transformer, "create table staging.scratch as select 1 as x; drop table staging.scratch")
    for statement in ("insert into raw.intake_runs (triggered_by) values ('x')",
                      "update raw.agreement_versions set title = 'x'",
                      "insert into raw.alerts (agreement_id) values ('x')",
                      "drop table raw.orders"):
        assert refused(transformer, statement), statement


def test_alerts_read_marts_and_write_the_ledger_only(db):
    from partnerops.alerts.ledger import LedgerItem, record_alert, record_attempt, settle
    from partnerops.alerts.routing import Target

    alerts = db["alerts"]
    agreement = query(alerts, "select min(agreement_id) from marts.portfolio")[0][0]
    target = Target("email", "am@example.com")
    conn = psycopg2.connect(alerts)
    try:
        with conn, conn.cursor() as cur:
            alert_id = record_alert(cur, key=(agreement, "launch-slot", "", "breached"), as_of=date(2026, 3, 1),
                                    status="pending", escalated=False, targets=[target], payload={},
                                    now=datetime(2026, 3, 1, tzinfo=UTC))
            item = LedgerItem("alert", alert_id, (target,), {})
            record_attempt(cur, item, target, 1, None)
            settle(cur, item, "sent")
    finally:
        conn.close()
    assert query(db["admin"], "select status from raw.alerts where alert_id = %s", (alert_id,)) == [("sent",)]
    for statement in ("insert into marts.portfolio (agreement_id) values ('x')",
                      "update marts.portfolio set brand_id = 'x'",
                      "select * from raw.agreement_versions",
                      "insert into raw.intake_runs (triggered_by) values ('x')"):
        assert refused(alerts, statement), statement


def test_the_reader_reads_marts_only(db):
    reader = db["reader"]
    assert query(reader, "select count(*) from marts.portfolio") == [(5,)]
    for statement in ("select * from raw.agreement_versions",
                      "select * from raw.alerts",
                      "select * from access.reporting_scopes",
                      "insert into marts.portfolio (agreement_id) values ('x')",
                      "delete from marts.portfolio",
                      "create table marts.mine (x int)"):
        assert refused(reader, statement), statement


def test_a_table_dbt_creates_later_is_readable_by_reader_and_alerts(db):
    query(db["transformer"], "create table marts.later as select 1 as x")
    assert query(db["reader"], "select x from marts.later") == [(1,)]
    assert query(db["alerts"], "select x from marts.later") == [(1,)]
    assert refused(db["loader"], "select x from marts.later")


def test_a_reporting_login_must_exist_and_its_scope_must_name_an_agreement(db):
    login = role_name("reader") + "_nobody"
    with pytest.raises(UserError, match="no database login"):
        grant_reporting_login(db["admin"], login, account_manager="someone@example.com")
    query(db["admin"], f'create role "{login}" login')
    with pytest.raises(UserError, match="no current agreement of account manager nobody@example.com"):
        grant_reporting_login(db["admin"], login, account_manager="nobody@example.com")
    with pytest.raises(UserError, match="exactly one"):
        grant_reporting_login(db["admin"], login)
    assert refused(as_login(db["admin"], login), "select * from marts.portfolio")


def test_grant_reporting_from_the_command_line(db, monkeypatch, capsys):
    from partnerops.cli import main

    login = role_name("reader") + "_cli_am"
    query(db["admin"], f'create role "{login}" login')
    am = query(db["admin"], "select min(account_manager_email) from raw.agreement_versions")[0][0]
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", db["admin"])
    assert main(["db", "grant-reporting", login, "--account-manager", am]) == 0
    assert f"{login} reads the marts of account manager {am}" in capsys.readouterr().out
    assert query(db["admin"], "select account_manager_email from access.reporting_scopes where login = %s",
               (login,)) == [(am.lower(),)]
    assert query(as_login(db["admin"], login), "select count(*) from marts.portfolio")  # a member of the reader role
    assert main(["db", "grant-reporting", login, "--group", "NOPE"]) == 1
    assert "no current agreement of group NOPE" in capsys.readouterr().err


def test_the_components_log_in_through_their_own_connections(db, monkeypatch, tmp_path):
    """The loader's DAG entry points run on its connection `partnerops_loader`; an undefined one
    falls back to `partnerops_db` (the single-login setup)."""
    from partnerops.db import database_url
    from partnerops.evidence.load import load_delivered
    from partnerops.evidence.simulate import agreements_from_database, simulate
    from partnerops.settings import ALERTS_CONN_ID, LOADER_CONN_ID, READER_CONN_ID, get_settings

    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_DB", db["admin"])
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_LOADER", db["loader"])
    monkeypatch.delenv("AIRFLOW_CONN_PARTNEROPS_READER", raising=False)
    assert database_url(conn_id=LOADER_CONN_ID) == db["loader"]
    assert database_url(conn_id=READER_CONN_ID) == db["admin"]  # not defined: the one login
    monkeypatch.setenv("AIRFLOW_CONN_PARTNEROPS_ALERTS", db["alerts"])
    assert database_url(conn_id=ALERTS_CONN_ID) == db["alerts"]
    with monkeypatch.context() as bare:  # outside Airflow with no connection at all: the project's URL
        for name in ("AIRFLOW_CONN_PARTNEROPS_DB", "AIRFLOW_CONN_PARTNEROPS_ALERTS"):
            bare.delenv(name)
        bare.setenv("PARTNEROPS_DATABASE_URL", db["reader"])
        assert database_url(conn_id=ALERTS_CONN_ID) == db["reader"]

    simulate(agreements_from_database(db["admin"]), start=date(2026, 3, 2), end=date(2026, 3, 3),
             out=get_settings().evidence_inbox, scale=0.0001)
    totals = load_delivered("orders", triggered_by="test", today=date(2026, 3, 10), conn_id=LOADER_CONN_ID)
    assert totals["files"] >= 1 and not totals["not_loaded"], totals
    loads = query(db["admin"], "select count(*), min(status) from raw.evidence_loads where feed = 'orders'")
    assert loads[0][0] == totals["files"]
    assert query(db["admin"], "select count(*) from raw.orders")[0][0] > 0
    # the month's partition was made for the loader by the migrator's function, and holds the rows
    assert query(db["admin"], "select tableowner from pg_tables where tablename = 'orders_p2026_03'") == [
        (role_name("migrator"),)]
    assert query(db["admin"], "select count(*) from raw.orders_default")[0][0] == 0
    assert refused(db["loader"], "select raw.create_monthly_partition('raw.alerts', '2026-03-01')")


def test_the_prefix_is_checked(monkeypatch):
    monkeypatch.setenv("PARTNEROPS_DB_ROLE_PREFIX", "ops; drop")
    with pytest.raises(UserError, match="letters, digits and underscores"):
        role_name("reader")


def test_the_documented_variables_exist():
    deploy = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    for key in ROLE_KEYS:
        assert password_env(key) in deploy and f"partnerops_{key}" in deploy

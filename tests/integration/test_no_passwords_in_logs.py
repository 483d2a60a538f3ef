"""Connection passwords are never logged: a small demo run with known passwords, then a grep.

The run goes through the `partnerops` commands a demo makes, with verbose logging: the
migrations, intake of a few sample agreements, simulated evidence loaded, the alerts, plus
the error paths that quote a database URL (a server that does not answer, a password in
the URL's query string), with an SMTP URL, a webhook and an Airflow API connection that
carry secrets too. Every password is known; none may appear in anything the run printed or
wrote: the commands' output and every file under its data folder. (The dbt build is left
out to keep the test fast; dbt gets the password in `PARTNEROPS_DB_PASSWORD` and its log
prints none. Alert delivery errors are checked for the SMTP password in
tests/include/alerts/test_smtp_tls.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2
import pytest

from partnerops.db import create_database, drop_database, with_database

pytestmark = pytest.mark.integration

AS_OF = "2026-03-10"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def login_with_password(admin_url: str) -> Iterator[tuple[str, str]]:
    """A throwaway database owned by a login role with a known password; (url, password)."""
    role, password = f"po_logs_{uuid.uuid4().hex[:8]}", f"db-Pw-{uuid.uuid4().hex}"
    database = f"po_logs_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"create role {role} login superuser password %s", (password,))
        create_database(admin_url, database)
        with conn.cursor() as cur:
            cur.execute(f"alter database {database} owner to {role}")
        parts = urlsplit(with_database(admin_url, database))
        host = parts.hostname or "127.0.0.1"
        netloc = f"{role}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
        yield urlunsplit(parts._replace(netloc=netloc)), password
    finally:
        drop_database(admin_url, database)
        with conn.cursor() as cur:
            cur.execute(f"drop role if exists {role}")
        conn.close()


def test_a_demo_run_logs_no_password(login_with_password: tuple[str, str], tmp_path: Path) -> None:
    url, db_password = login_with_password
    smtp_password, webhook_secret, api_password = (f"{what}-{uuid.uuid4().hex}" for what in ("smtp", "whsec", "api"))
    webhook_path = f"hooks/{uuid.uuid4().hex}"  # a Slack-style URL's secret path
    data = tmp_path / "var"
    env = {**os.environ, "PARTNEROPS_DATA_DIR": str(data), "PARTNEROPS_DATABASE_URL": url,
           "PARTNEROPS_SMTP_URL": f"smtp://alerts:{smtp_password}@127.0.0.1:{_closed_port()}"
                                  "?disable_ssl=true&retry_limit=0&timeout=2",
           "PARTNEROPS_ALERTS_WEBHOOK_URL": f"http://127.0.0.1:{_closed_port()}/{webhook_path}",
           "PARTNEROPS_ALERTS_WEBHOOK_SECRET": webhook_secret,
           "AIRFLOW_CONN_PARTNEROPS_AIRFLOW_API": f"http://admin:{api_password}@127.0.0.1:{_closed_port()}"}
    env.pop("AIRFLOW_CONN_PARTNEROPS_DB", None)
    outputs: list[str] = []

    def partnerops(*args: str, expect: int | None = 0, **extra: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "partnerops.cli", "-v", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=600)
        outputs.append(f"$ partnerops {' '.join(args)}\n{proc.stdout}{proc.stderr}")
        assert expect is None or proc.returncode == expect, outputs[-1][-3000:]

    agreements, feeds = tmp_path / "agreements", tmp_path / "feeds"
    partnerops("db", "upgrade")
    partnerops("sample-agreements", "--brands", "3", "--groups", "2", "--out", str(agreements))
    partnerops("intake", str(agreements))
    partnerops("simulate", "--end", "2026-03-09", "--days", "3", "--scale", "0.0002", "--out", str(feeds))
    partnerops("load", str(feeds), expect=None)  # 1 when the simulated faults quarantined rows
    partnerops("alerts", "--as-of", AS_OF, expect=1)  # no marts yet: a plain error
    closed = f"postgresql://po_logs:{db_password}@127.0.0.1:{_closed_port()}/partnerops"
    partnerops("db", "upgrade", expect=1, PARTNEROPS_DATABASE_URL=closed)
    partnerops("status", expect=1, PARTNEROPS_DATABASE_URL=f"postgresql://127.0.0.1:{_closed_port()}/partnerops"
                                                          f"?user=po_logs&password={db_password}")

    files = [p for p in data.rglob("*") if p.is_file() and "pgdata" not in p.parts]
    texts = {"the commands' output": "\n".join(outputs)}
    texts.update({str(p): p.read_bytes().decode("utf-8", "replace") for p in files})
    assert "run commitment tracking first" in texts["the commands' output"]
    assert "cannot connect to PostgreSQL" in texts["the commands' output"]
    secrets = {"database": db_password, "smtp": smtp_password, "webhook secret": webhook_secret,
               "webhook path": webhook_path, "Airflow API": api_password}
    leaks = [f"{name} in {where}" for where, text in texts.items() for name, secret in secrets.items()
             if secret in text or quote(secret, safe="") in text]
    assert leaks == [], leaks
    assert any(name.endswith("agreements.json") for name in texts), sorted(texts)  # the run's files were searched

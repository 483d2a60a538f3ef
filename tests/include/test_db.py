"""The server the tests' throwaway databases live on (`partnerops.db.throwaway_server`).

With PARTNEROPS_TEST_ADMIN_URL unset and nothing answering at the default address, an
embedded PostgreSQL is started for the run and stopped at its end; an explicitly set URL
that does not answer is a plain error, never a silent fallback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest

from partnerops.airflow_runtime import free_port
from partnerops.db import TEST_ADMIN_URL_ENV, describe, throwaway_server
from partnerops.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Run in a subprocess: the default address is argv[1]; prints what it did, one fact a line.
FALLBACK = """
import sys
import psycopg2
from partnerops.db import create_database, drop_database, throwaway_server, with_database

def databases(admin_url):
    conn = psycopg2.connect(admin_url)
    with conn.cursor() as cur:
        cur.execute("select datname from pg_database")
        names = {name for (name,) in cur.fetchall()}
    conn.close()
    return names

with throwaway_server({}, default_url=sys.argv[1]) as server:
    print("description:", server.description)
    print("embedded:", server.embedded)
    print("admin url:", server.admin_url)
    create_database(server.admin_url, "fallback_check")
    conn = psycopg2.connect(with_database(server.admin_url, "fallback_check"))
    with conn.cursor() as cur:
        cur.execute("create table t (x int); insert into t values (42); select x from t")
        print("created:", "fallback_check" in databases(server.admin_url), cur.fetchone()[0])
    conn.close()
    drop_database(server.admin_url, "fallback_check")
    print("dropped:", "fallback_check" not in databases(server.admin_url))
"""


#: Run in a subprocess: starts the embedded server (default address argv[1]), says so, waits to be interrupted.
INTERRUPTED = """
import sys, time
from partnerops.db import throwaway_server

with throwaway_server({}, default_url=sys.argv[1]) as server:
    print(server.admin_url, flush=True)
    time.sleep(300)
"""


def _closed_address() -> str:
    return f"postgresql://root@127.0.0.1:{free_port()}/postgres"


def test_with_nothing_at_the_default_address_an_embedded_server_serves_the_run(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != TEST_ADMIN_URL_ENV}
    env["TMPDIR"] = str(tmp_path)
    closed = _closed_address()
    proc = subprocess.run([sys.executable, "-c", FALLBACK, closed], capture_output=True, text=True, timeout=300,
                          env=env, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    assert facts["embedded"] == "True"
    assert facts["description"].startswith("test databases: embedded PostgreSQL at postgresql://postgres@127.0.0.1:")
    assert f"nothing answers at {closed}" in facts["description"]
    # reached over TCP like the machine's server (also by other system users), on a port of its own
    parts = urlsplit(facts["admin url"])
    assert (parts.hostname, parts.username, parts.path) == ("127.0.0.1", "postgres", "/postgres")
    assert parts.port != urlsplit(closed).port
    assert facts["created"] == "True 42"
    assert facts["dropped"] == "True"
    # stopped at the end, and its data folder removed
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(facts["admin url"], connect_timeout=3).close()
    assert list(tmp_path.glob("partnerops-test-pg-*")) == []


def test_an_interrupted_run_stops_the_embedded_server(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != TEST_ADMIN_URL_ENV}
    env["TMPDIR"] = str(tmp_path)
    # Ctrl-C as from a terminal, also when this run was started in the background (SIGINT ignored)
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED, _closed_address()], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        admin_url = proc.stdout.readline().strip()
        assert admin_url.startswith("postgresql://postgres@127.0.0.1:"), proc.stderr.read()
        psycopg2.connect(admin_url, connect_timeout=5).close()  # it runs
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
    finally:
        proc.kill()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(admin_url, connect_timeout=3).close()
    assert list(tmp_path.glob("partnerops-test-pg-*")) == []


def test_an_explicit_url_that_does_not_answer_is_a_plain_error():
    closed = _closed_address()
    with pytest.raises(UserError) as raised, throwaway_server({TEST_ADMIN_URL_ENV: closed}):
        pass
    message = str(raised.value)
    assert message.startswith(f"{TEST_ADMIN_URL_ENV}={closed} does not answer: ")
    assert f"unset {TEST_ADMIN_URL_ENV}" in message


def test_pytest_stops_at_once_when_the_explicit_url_does_not_answer(tmp_path: Path):
    """No silent fallback: the run ends with the plain message before any test runs."""
    env = {**os.environ, TEST_ADMIN_URL_ENV: _closed_address(), "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/include/test_calendar.py"], capture_output=True, text=True, timeout=300,
                          env=env, cwd=REPO_ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out
    assert f"error: {TEST_ADMIN_URL_ENV}=" in out and "does not answer" in out
    assert "embedded PostgreSQL" not in out
    assert list(tmp_path.glob("partnerops-test-pg-*")) == []


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://ops:pw%40x@db:5432/po?sslmode=require", "postgresql://ops@db:5432/po?sslmode=require"),
    ("postgresql://db/po?user=ops&password=pw-x&sslpassword=key-x",
     "postgresql://db/po?user=ops&password=***&sslpassword=***"),
    ("postgresql:///po?host=/run/pg&password=pw-x", "postgresql:///po?host=/run/pg&password=***"),
    ("host=db dbname=po password='p w-x' user=ops", "host=db dbname=po password=*** user=ops"),
    ("postgresql://root@127.0.0.1:5432/postgres", "postgresql://root@127.0.0.1:5432/postgres"),
])
def test_describe_shows_no_password_wherever_the_url_holds_it(url: str, shown: str):
    assert describe(url) == shown

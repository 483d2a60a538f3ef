"""Fixtures of the alert tests: a real SMTP server, a real HTTP receiver, and status rows.

- `smtp_server`: aiosmtpd on 127.0.0.1 (a free port), collecting messages; set
  `refuse = True` and it answers 554 to every message.
- `webhook`: an `http.server` in a thread collecting JSON posts; `refuse = True` answers 500.
- `status_table`: a table with the status mart's columns (`alerts_fixture.commitment_statuses`),
  so the tests go through the same query as production. It is not the mart itself, which
  dbt owns in the same test database.
- `seed`: inserts an agreement version with commitments into the raw tables, and status rows.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg2
import pytest
from aiosmtpd.controller import Controller

FIXTURE_RELATION = "alerts_fixture.commitment_statuses"

#: When the account manager's decisions in these tests were taken and recorded: 10:00 Shanghai on
#: the tests' as-of date (fixed, so that nothing depends on today's date).
DECIDED_AT = datetime(2026, 6, 20, 2, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- SMTP -----------------------------------------------------------------------------------------

class _Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        if self.refuse:
            return "554 5.7.1 refused by the test server"
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    collector: _Collector

    @property
    def url(self) -> str:
        return (f"smtp://127.0.0.1:{self.port}?disable_ssl=true&disable_tls=true&retry_limit=0&timeout=5")

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        return self.collector.messages

    def recipients(self) -> list[str]:
        return sorted(r for rcpts, _ in self.messages for r in rcpts)

    @property
    def refuse(self) -> bool:
        return self.collector.refuse

    @refuse.setter
    def refuse(self, value: bool) -> None:
        self.collector.refuse = value


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, collector)
    finally:
        controller.stop()


# -- webhook --------------------------------------------------------------------------------------

@dataclass
class Webhook:
    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    refuse: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T000/B000/secret"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    state = Webhook(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.refuse:
                self.send_response(500)
                self.end_headers()
                return
            state.posts.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# -- data -----------------------------------------------------------------------------------------

_MART_COLUMNS = """
    as_of_date date not null, commitment_instance_id text, agreement_id text not null,
    agreement_version integer not null, commitment_id text not null, instance_key text not null,
    brand_id text, brand_name text, group_id text, group_name text, account_manager_email text,
    commitment_title text, pillar text, service text, obligor text, beneficiary text, kind text,
    evidence_type text, depends_on_commitment_id text, status text, base_status text, status_reason text,
    is_disputed boolean, is_due_date_provisional boolean, evidence_count integer, progress_value numeric,
    progress_target numeric, weight numeric, instance_weight numeric, period_start_date date,
    period_end_date date, opens_date date, due_date date, breach_date date, warning_date date,
    due_at timestamptz, delivered_at timestamptz
"""


@pytest.fixture
def status_table(db_url: str) -> str:
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("create schema if not exists alerts_fixture")
            cur.execute(f"drop table if exists {FIXTURE_RELATION}")
            cur.execute(f"create table {FIXTURE_RELATION} ({_MART_COLUMNS})")
    finally:
        conn.close()
    return FIXTURE_RELATION


@dataclass
class Seed:
    url: str

    def _exec(self, sql: str, params: Any = None) -> None:
        conn = psycopg2.connect(self.url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
        finally:
            conn.close()

    def agreement(self, agreement_id: str = "TM-2026-0001", *, brand_name: str = "Acme Apparel",
                  manager: str = "am@example.com", escalation: tuple[str, ...] = ("lead@example.com",
                                                                                 "ops@example.com"),
                  commitments: tuple[tuple[str, str, float], ...] = (("C1", "deliverable", 2),),
                  quota_target: int | None = None, error_budget: int | None = None) -> None:
        contacts = [{"name": e.split("@")[0], "email": e, "role": "lead"} for e in escalation]
        self._exec(
            """insert into raw.intake_runs (intake_run_id, triggered_by) values (1, 'test')
               on conflict do nothing""")
        self._exec(
            """insert into raw.agreement_versions (agreement_id, version, is_current, title, brand_id, brand_name,
                   group_id, group_name, signed_date, term_start, term_end, timezone, account_manager_name,
                   account_manager_email, escalation_contacts, gmv_target_amount, gmv_target_currency, document,
                   content_hash, source_file, intake_run_id)
               values (%s, 1, true, 'Strategic cooperation', 'B1', %s, 'G1', 'Group One', '2025-12-01',
                       '2026-01-01', '2026-12-31', 'Asia/Shanghai', 'Ann Manager', %s, %s, 1000, 'CNY', '{}',
                       'h', 'f.yaml', 1)""",
            (agreement_id, brand_name, manager, json.dumps(contacts)))
        for commitment_id, kind, weight in commitments:
            self._exec(
                """insert into raw.commitments (agreement_id, version, commitment_id, title, pillar, service,
                       obligor, beneficiary, kind, evidence_type, weight, quota_target, threshold_window,
                       threshold_error_budget)
                   values (%s, 1, %s, %s, 'marketing', 'launch', 'brand', 'platform', %s, 'attestation', %s,
                           %s, %s, %s)""",
                (agreement_id, commitment_id, f"Commitment {commitment_id}", kind, weight,
                 quota_target if kind == "quota" else None, "month" if kind == "threshold" else None,
                 error_budget if kind == "threshold" else None))

    def status(self, as_of: date, status: str, *, agreement_id: str = "TM-2026-0001", commitment_id: str = "C1",
               instance_key: str = "term", kind: str = "deliverable", due: date | None = date(2026, 6, 30),
               breach: date | None = None, weight: float = 2, evidence_count: int = 0,
               progress_value: float | None = None, progress_target: float | None = None,
               delivered_at: datetime | None = None) -> None:
        self._exec(
            f"""insert into {FIXTURE_RELATION} (as_of_date, agreement_id, agreement_version, commitment_id,
                    instance_key, brand_name, commitment_title, pillar, service, obligor, beneficiary, kind,
                    evidence_type, status, status_reason, evidence_count, progress_value, progress_target,
                    weight, due_date, breach_date, delivered_at)
                values (%s, %s, 1, %s, %s, 'ignored', %s, 'marketing', 'launch', 'brand', 'platform', %s,
                        'attestation', %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (as_of, agreement_id, commitment_id, instance_key, f"Commitment {commitment_id}", kind, status,
             f"test: {status}", evidence_count, progress_value, progress_target, weight, due, breach, delivered_at))

    def decision(self, agreement_id: str = "TM-2026-0001", commitment_id: str = "C1",
                 instance_key: str | None = "term", decision: str = "dispute",
                 at: datetime = DECIDED_AT) -> None:
        self._exec(
            """insert into raw.commitment_decisions (agreement_id, commitment_id, instance_key, decision, comment,
                   decided_by, decided_at, recorded_at)
               values (%s, %s, %s, %s, 'looking into it', 'am@example.com', %s, %s)""",
            (agreement_id, commitment_id, instance_key, decision, at, at))

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        conn = psycopg2.connect(self.url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()


@pytest.fixture
def seed(db_url: str, status_table: str) -> Seed:
    return Seed(db_url)

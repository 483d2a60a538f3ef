"""Fixtures of the alert tests: a real SMTP server, a real HTTP receiver, and status rows.

- `smtp_server`: aiosmtpd on 127.0.0.1 (a free port), collecting messages; set
  `refuse = True` and it answers 554 to every message.
- `tls_smtp_server`: the same, requiring STARTTLS (a throwaway self-signed certificate made
  for the test) and AUTH with a login and password before any message; `cafile` is the
  certificate a client must trust.
- `webhook`: an `http.server` in a thread that verifies each post's signature as a receiver
  would (`partnerops.alerts.verify_webhook`, its own secret) and collects the good JSON posts;
  a post that fails the check is answered 401 and kept in `rejected`; `refuse = True` answers 500.
- `status_table`: a schema (`alerts_fixture`) with one table per mart the alerts read
  (`partnerops.alerts.status.MARTS_READ`), each built from that mart's dbt contract
  (`_marts__models.yml`), so the tests go through the same queries as production and a
  column the contract drops breaks them. They are not the marts themselves, which dbt owns.
- `seed`: inserts an agreement (contacts and commitments), status rows and decisions into them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from partnerops.alerts import InvalidSignature, verify_webhook
from partnerops.alerts.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from partnerops.alerts.status import MARTS_READ
from partnerops.settings import get_settings

FIXTURE_SCHEMA = "alerts_fixture"
FIXTURE_RELATION = f"{FIXTURE_SCHEMA}.commitment_statuses"
MARTS_MODELS_YML = get_settings().dbt_project_dir / "models" / "marts" / "tracking" / "_marts__models.yml"

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


@dataclass
class TlsSmtpServer(SmtpServer):
    login: str = "alerts"
    password: str = "smtp-test-pw-51d7"  # pragma: allowlist secret (a test's own login)
    cafile: Path | None = None
    refused_logins: list[str] = field(default_factory=list)

    def url_with(self, login: str | None = None, password: str | None = None) -> str:
        """STARTTLS (the provider's default: no disable_tls) with AUTH as `login`:`password`."""
        return (f"smtp://{quote(login or self.login, safe='')}:{quote(password or self.password, safe='')}"
                f"@127.0.0.1:{self.port}?disable_ssl=true&retry_limit=0&timeout=5")

    @property
    def url(self) -> str:
        return self.url_with()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost, and its key (PEM files in `folder`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partnerops test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_smtp_server(tmp_path: Path) -> Iterator[TlsSmtpServer]:
    cert_file, key_file = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    state = TlsSmtpServer(free_port(), _Collector(), cafile=cert_file)

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == state.login
              and auth_data.password.decode() == state.password)
        if not ok:
            state.refused_logins.append(getattr(auth_data, "login", b"?").decode(errors="replace"))
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535

    controller = Controller(state.collector, hostname="127.0.0.1", port=state.port, tls_context=context,
                            require_starttls=True, authenticator=authenticate, auth_required=True,
                            auth_require_tls=True)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()


# -- webhook --------------------------------------------------------------------------------------

@dataclass
class Webhook:
    port: int
    secret: str = "whsec-test-3f9c2a"  # pragma: allowlist secret (a test's own key)
    posts: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str | None] = field(default_factory=list)  # X-Partnerops-Delivery of each good post
    rejected: list[str] = field(default_factory=list)  # why each refused post failed the check
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
            try:
                verify_webhook(state.secret, body, self.headers.get(TIMESTAMP_HEADER),
                               self.headers.get(SIGNATURE_HEADER))
            except InvalidSignature as exc:
                state.rejected.append(str(exc))
                self.send_response(401)
                self.end_headers()
                return
            if state.refuse:
                self.send_response(500)
                self.end_headers()
                return
            state.posts.append(json.loads(body))
            state.deliveries.append(self.headers.get(DELIVERY_HEADER))
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

def mart_columns(name: str) -> list[tuple[str, str]]:
    """(column, data type) of a mart, from its enforced dbt contract."""
    models = {m["name"]: m for m in yaml.safe_load(MARTS_MODELS_YML.read_text())["models"]}
    assert models[name].get("config", {}).get("contract", {}).get("enforced"), f"{name} has no enforced contract"
    return [(c["name"], c["data_type"]) for c in models[name]["columns"]]


@pytest.fixture
def status_table(db_url: str) -> str:
    """The schema with a table per mart the alerts read; returns the schema's name."""
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"drop schema if exists {FIXTURE_SCHEMA} cascade")
            cur.execute(f"create schema {FIXTURE_SCHEMA}")
            for name in MARTS_READ:
                columns = ", ".join(f"{col} {data_type}" for col, data_type in mart_columns(name))
                cur.execute(f"create table {FIXTURE_SCHEMA}.{name} ({columns})")
    finally:
        conn.close()
    return FIXTURE_SCHEMA


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
                  quota_target: int | None = None, error_budget: int | None = None,
                  term: tuple[date, date] = (date(2026, 1, 1), date(2026, 12, 31))) -> None:
        contacts = [{"name": e.split("@")[0], "email": e, "role": "lead"} for e in escalation]
        self._exec(
            f"""insert into {FIXTURE_SCHEMA}.agreement_contacts (agreement_id, agreement_version, agreement_title,
                    brand_id, brand_name, group_id, group_name, account_manager_name, account_manager_email,
                    escalation_contacts)
                values (%s, 1, 'Strategic cooperation', 'B1', %s, 'G1', 'Group One', 'Ann Manager', %s, %s)""",
            (agreement_id, brand_name, manager, json.dumps(contacts)))
        for commitment_id, kind, _weight in commitments:
            months = (term[1].year - term[0].year) * 12 + term[1].month - term[0].month + 1
            self._exec(
                f"""insert into {FIXTURE_SCHEMA}.commitments (commitment_version_id, agreement_id, agreement_version,
                        commitment_id, commitment_title, kind, obligor, remedy, quota_target, threshold_window,
                        threshold_error_budget, threshold_windows_in_term, term_start_date, term_end_date)
                    values (%s, %s, 1, %s, %s, %s, 'brand', null, %s, %s, %s, %s, %s, %s)""",
                (f"{agreement_id}|v1|{commitment_id}", agreement_id, commitment_id, f"Commitment {commitment_id}",
                 kind, quota_target if kind == "quota" else None, "month" if kind == "threshold" else None,
                 error_budget if kind == "threshold" else None, months if kind == "threshold" else None,
                 term[0], term[1]))

    def status(self, as_of: date, status: str, *, agreement_id: str = "TM-2026-0001", commitment_id: str = "C1",
               instance_key: str = "term", kind: str = "deliverable", due: date | None = date(2026, 6, 30),
               breach: date | None = None, weight: float = 2, evidence_count: int = 0,
               progress_value: float | None = None, progress_target: float | None = None,
               delivered_at: datetime | None = None, opens: date | None = None) -> None:
        self._exec(
            f"""insert into {FIXTURE_RELATION} (as_of_date, agreement_id, agreement_version, commitment_id,
                    instance_key, brand_name, commitment_title, pillar, service, obligor, beneficiary, kind,
                    evidence_type, status, status_reason, evidence_count, progress_value, progress_target,
                    weight, due_date, breach_date, delivered_at, opens_date)
                values (%s, %s, 1, %s, %s, 'ignored', %s, 'marketing', 'launch', 'brand', 'platform', %s,
                        'attestation', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (as_of, agreement_id, commitment_id, instance_key, f"Commitment {commitment_id}", kind, status,
             f"test: {status}", evidence_count, progress_value, progress_target, weight, due, breach, delivered_at,
             opens))

    def decision(self, agreement_id: str = "TM-2026-0001", commitment_id: str = "C1",
                 instance_key: str | None = "term", decision: str = "dispute",
                 at: datetime = DECIDED_AT) -> None:
        self._exec(
            f"""insert into {FIXTURE_SCHEMA}.commitment_decisions (decision_id, agreement_id, commitment_id,
                    instance_key, decision, decision_comment, decided_by, decided_at, recorded_at)
                select coalesce(max(decision_id), 0) + 1, %s, %s, %s, %s, 'looking into it', 'am@example.com', %s, %s
                  from {FIXTURE_SCHEMA}.commitment_decisions""",
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

"""Alert email over STARTTLS with a login: a real aiosmtpd that refuses anything less.

The server (`alerts_fixtures.tls_smtp_server`) requires STARTTLS before AUTH and AUTH before
any message, with a self-signed certificate made for the test. The client is the SMTP
provider's hook, unchanged: it verifies the certificate against the trusted CAs, which the
test extends with that certificate through `SSL_CERT_FILE` (as a private CA is trusted in a
deployment). The plain-SMTP path is tested by the other alert tests.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from alerts_fixtures import FIXTURE_SCHEMA, Seed, TlsSmtpServer

from partnerops.alerts import run_alerts
from partnerops.settings import AlertSettings, get_settings

AS_OF = date(2026, 6, 20)
NOW = datetime(2026, 6, 20, 1, 0, tzinfo=UTC)


def run(url: str, smtp_url: str):
    return run_alerts(url, AS_OF, now=NOW, schema=FIXTURE_SCHEMA,
                      settings=replace(get_settings(), alerts=AlertSettings(smtp_url=smtp_url, max_attempts=3)))


def deliveries(seed: Seed) -> list[tuple[str, str | None]]:
    return seed.query("select status, error from raw.alert_deliveries order by delivery_id")


@pytest.fixture
def one_alert(seed: Seed) -> Seed:
    seed.agreement(escalation=())
    seed.status(AS_OF, "at_risk")
    return seed


def test_an_alert_is_sent_over_starttls_with_a_login(one_alert: Seed, tls_smtp_server: TlsSmtpServer,
                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_smtp_server.cafile))
    report = run(one_alert.url, tls_smtp_server.url)
    assert (report.delivered, report.failed) == (1, 0)
    assert tls_smtp_server.recipients() == ["am@example.com"]
    assert "at risk" in str(tls_smtp_server.messages[0][1]["Subject"]).lower()
    run(one_alert.url, tls_smtp_server.url)  # a re-run sends nothing more
    assert len(tls_smtp_server.messages) == 1


def test_a_wrong_password_is_refused_and_retried_on_the_next_run(one_alert: Seed, tls_smtp_server: TlsSmtpServer,
                                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_smtp_server.cafile))
    refused = run(one_alert.url, tls_smtp_server.url_with(password="not-the-password"))
    assert (refused.delivered, refused.failed, refused.still_pending) == (0, 1, 1)
    assert tls_smtp_server.messages == [] and set(tls_smtp_server.refused_logins) == {"alerts"}  # PLAIN, LOGIN
    [(status, error)] = deliveries(one_alert)
    assert status == "failed" and "535" in error and "not-the-password" not in error

    run(one_alert.url, tls_smtp_server.url)
    assert len(tls_smtp_server.messages) == 1
    assert [s for s, _ in deliveries(one_alert)] == ["failed", "sent"]


def test_an_untrusted_certificate_stops_the_login_before_the_password_is_sent(
        one_alert: Seed, tls_smtp_server: TlsSmtpServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the system's CAs only: the test certificate is unknown
    report = run(one_alert.url, tls_smtp_server.url)
    assert (report.delivered, report.failed) == (0, 1)
    assert tls_smtp_server.messages == [] and tls_smtp_server.refused_logins == []
    assert "CERTIFICATE_VERIFY_FAILED" in deliveries(one_alert)[0][1]

"""Alert runs end to end: the real PostgreSQL, a real SMTP server and a real HTTP receiver.

Nothing of the sending code is replaced: the SmtpNotifier talks SMTP to aiosmtpd, the
webhook notifier POSTs to an http.server, and the ledger is the migrated schema.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from alerts_fixtures import FIXTURE_SCHEMA, Seed, SmtpServer, Webhook, free_port

from partnerops.alerts import run_alerts
from partnerops.errors import UserError
from partnerops.settings import AlertSettings, get_settings

AS_OF = date(2026, 6, 20)
NOW = datetime(2026, 6, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai on the as-of date


def settings(**alerts):
    return replace(get_settings(), alerts=AlertSettings(**alerts))


def run(url: str, as_of: date = AS_OF, now: datetime = NOW, **alerts):
    return run_alerts(url, as_of, now=now, settings=settings(**alerts), schema=FIXTURE_SCHEMA)


def ledger(seed: Seed) -> list[tuple]:
    return seed.query("select commitment_id, instance_key, rule, status from raw.alerts order by 1, 2, 3")


def test_each_rule_fires_once_across_repeated_runs_and_a_backfill(seed: Seed, smtp_server: SmtpServer):
    seed.agreement(commitments=(("C1", "deliverable", 1), ("C2", "deliverable", 1), ("C3", "deliverable", 1)))
    # C1 enters at risk on 06-20 and stays at risk; C2 is due on 06-25; C3 breached on 06-10.
    for day in (date(2026, 6, 20), date(2026, 6, 21), date(2026, 6, 18)):
        seed.status(day, "at_risk", commitment_id="C1", due=date(2026, 7, 31))
        seed.status(day, "pending", commitment_id="C2", due=date(2026, 6, 25))
        seed.status(day, "breached", commitment_id="C3", due=date(2026, 6, 8), breach=date(2026, 6, 10))

    first = run(seed.url, date(2026, 6, 20), smtp_url=smtp_server.url)
    assert dict(first.raised) == {"at_risk": 1, "breached": 1, "due_in_7_days": 1, "breach_open_7_days": 1}
    assert len(smtp_server.messages) == 4

    again = run(seed.url, date(2026, 6, 20), smtp_url=smtp_server.url)  # a re-run / retry of the same day
    later = run(seed.url, date(2026, 6, 21), now=NOW + timedelta(hours=1), smtp_url=smtp_server.url)
    backfill = run(seed.url, date(2026, 6, 18), now=NOW + timedelta(hours=2), smtp_url=smtp_server.url)

    assert sum(again.raised.values()) == sum(later.raised.values()) == 0
    assert dict(backfill.raised) == {}  # at_risk/breached/T-7 already raised; 06-18 is < 7 days after breach
    assert len(smtp_server.messages) == 4
    assert [r[2:] for r in ledger(seed)] == [("at_risk", "sent"), ("due_in_7_days", "sent"),
                                            ("breach_open_7_days", "sent"), ("breached", "sent")]
    assert seed.query("select count(*) from raw.alert_deliveries where status = 'sent'") == [(4,)]


def test_due_today_and_recurring_instances_have_their_own_keys(seed: Seed, smtp_server: SmtpServer):
    seed.agreement(commitments=(("R1", "recurring", 1),))
    seed.status(AS_OF, "pending", commitment_id="R1", instance_key="2026-05-01", due=AS_OF)
    seed.status(AS_OF, "pending", commitment_id="R1", instance_key="2026-06-01", due=date(2026, 6, 27))
    report = run(seed.url, smtp_url=smtp_server.url)
    assert dict(report.raised) == {"due_today": 1, "due_in_7_days": 1}
    assert [r[1:3] for r in ledger(seed)] == [("2026-05-01", "due_today"), ("2026-06-01", "due_in_7_days")]


def test_routing_goes_to_the_account_manager_and_high_weight_breaches_escalate_at_once(
        seed: Seed, smtp_server: SmtpServer):
    seed.agreement(manager="am@example.com", escalation=("lead@example.com", "ops@example.com"),
                   commitments=(("LOW", "deliverable", 2), ("HIGH", "deliverable", 3)))
    seed.status(AS_OF, "breached", commitment_id="LOW", weight=2, due=AS_OF - timedelta(days=1))
    seed.status(AS_OF, "breached", commitment_id="HIGH", weight=3, due=AS_OF - timedelta(days=1))
    run(seed.url, smtp_url=smtp_server.url)
    by_subject = {}
    for rcpts, msg in smtp_server.messages:
        by_subject.setdefault("HIGH" if "Commitment HIGH" in str(msg["Subject"]) else "LOW", []).extend(rcpts)
    assert sorted(by_subject["LOW"]) == ["am@example.com"]
    assert sorted(by_subject["HIGH"]) == ["am@example.com", "lead@example.com", "ops@example.com"]
    assert seed.query("select commitment_id, is_escalated from raw.alerts order by 1") == [
        ("HIGH", True), ("LOW", False)]


def test_escalates_after_the_configured_hours_without_a_decision(seed: Seed, smtp_server: SmtpServer):
    seed.agreement(commitments=(("C1", "deliverable", 1), ("C2", "deliverable", 1)))
    for day in (AS_OF, AS_OF + timedelta(days=1), AS_OF + timedelta(days=2)):
        seed.status(day, "at_risk", commitment_id="C1", due=date(2026, 7, 31))
        seed.status(day, "at_risk", commitment_id="C2", due=date(2026, 7, 31))
    run(seed.url, AS_OF, NOW, smtp_url=smtp_server.url, escalate_after_hours=24)
    seed.decision(commitment_id="C2", instance_key=None)  # a decision on every instance of C2

    early = run(seed.url, AS_OF + timedelta(days=1), NOW + timedelta(hours=23), smtp_url=smtp_server.url,
                escalate_after_hours=24)
    assert sum(early.raised.values()) == 0
    smtp_server.messages.clear()
    due = run(seed.url, AS_OF + timedelta(days=1), NOW + timedelta(hours=24), smtp_url=smtp_server.url,
              escalate_after_hours=24)
    assert dict(due.raised) == {"escalated": 1}
    assert smtp_server.recipients() == ["am@example.com", "lead@example.com", "ops@example.com"]
    assert "Commitment C1" in str(smtp_server.messages[0][1]["Subject"])
    run(seed.url, AS_OF + timedelta(days=2), NOW + timedelta(hours=48), smtp_url=smtp_server.url,
        escalate_after_hours=24)
    assert len(smtp_server.messages) == 3  # escalated once, not every day


def test_a_refused_email_is_retried_on_the_next_run_and_only_then_marked_sent(seed: Seed, smtp_server: SmtpServer):
    seed.agreement()
    seed.status(AS_OF, "at_risk")
    smtp_server.refuse = True
    first = run(seed.url, smtp_url=smtp_server.url)
    assert (first.delivered, first.failed, first.still_pending) == (0, 1, 1)
    assert ledger(seed) == [("C1", "term", "at_risk", "pending")]
    error = seed.query("select status, attempt_no, error from raw.alert_deliveries")
    assert error[0][:2] == ("failed", 1) and "554" in error[0][2]

    smtp_server.refuse = False
    second = run(seed.url, smtp_url=smtp_server.url)
    assert (second.delivered, second.failed, sum(second.raised.values())) == (1, 0, 0)
    assert ledger(seed) == [("C1", "term", "at_risk", "sent")]
    run(seed.url, smtp_url=smtp_server.url)
    assert len(smtp_server.messages) == 1
    assert seed.query("select attempt_no, status from raw.alert_deliveries order by 1") == [
        (1, "failed"), (2, "sent")]


def test_a_closed_port_fails_until_max_attempts_then_the_alert_is_failed(seed: Seed):
    seed.agreement()
    seed.status(AS_OF, "at_risk")
    closed = f"smtp://127.0.0.1:{free_port()}?disable_ssl=true&disable_tls=true&retry_limit=0&timeout=2"
    for _ in range(3):
        run(seed.url, smtp_url=closed, max_attempts=2)
    assert ledger(seed) == [("C1", "term", "at_risk", "failed")]
    assert seed.query("select count(*) from raw.alert_deliveries") == [(2,)]


def test_webhook_gets_one_slack_payload_per_alert_and_retries_a_500(seed: Seed, webhook: Webhook):
    seed.agreement(brand_name='Bad "Brand" <script>alert(1)</script>\nX')
    seed.status(AS_OF, "at_risk")
    webhook.refuse = True
    run(seed.url, webhook_url=webhook.url, webhook_secret=webhook.secret)
    assert webhook.posts == []
    webhook.refuse = False
    run(seed.url, webhook_url=webhook.url, webhook_secret=webhook.secret)
    run(seed.url, webhook_url=webhook.url, webhook_secret=webhook.secret)
    assert len(webhook.posts) == 1
    post = webhook.posts[0]
    assert 'Bad "Brand" <script>alert(1)</script>' in post["text"]
    assert post["partnerops"]["rule"] == "at_risk"
    targets = seed.query("select recipients from raw.alerts")[0][0]
    assert targets[0]["channel"] == "webhook" and "secret" not in targets[0]["recipient"]


def test_email_and_webhook_targets_are_delivered_independently(seed: Seed, smtp_server: SmtpServer,
                                                                webhook: Webhook):
    seed.agreement()
    seed.status(AS_OF, "at_risk")
    webhook.refuse = True
    run(seed.url, smtp_url=smtp_server.url, webhook_url=webhook.url, webhook_secret=webhook.secret)
    webhook.refuse = False
    run(seed.url, smtp_url=smtp_server.url, webhook_url=webhook.url, webhook_secret=webhook.secret)
    assert (len(smtp_server.messages), len(webhook.posts)) == (1, 1)
    assert ledger(seed)[0][3] == "sent"


def test_concurrent_runs_send_once(seed: Seed, smtp_server: SmtpServer):
    seed.agreement(commitments=tuple((f"C{i}", "deliverable", 1) for i in range(8)))
    for i in range(8):
        seed.status(AS_OF, "at_risk", commitment_id=f"C{i}")
    errors: list[BaseException] = []

    def one() -> None:
        try:
            run(seed.url, smtp_url=smtp_server.url)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(smtp_server.messages) == 8


def test_a_backfill_older_than_the_lag_is_recorded_stale_and_never_sent(seed: Seed, smtp_server: SmtpServer):
    seed.agreement()
    old = AS_OF - timedelta(days=30)
    seed.status(old, "at_risk")
    seed.status(AS_OF, "at_risk")
    report = run(seed.url, old, smtp_url=smtp_server.url, max_lag_days=7)
    assert report.stale == 1 and smtp_server.messages == []
    run(seed.url, AS_OF, smtp_url=smtp_server.url, max_lag_days=7)
    assert smtp_server.messages == [] and ledger(seed) == [("C1", "term", "at_risk", "stale")]


def test_daily_digest_once_per_recipient_and_date(seed: Seed, smtp_server: SmtpServer):
    seed.agreement(commitments=(("C1", "deliverable", 1), ("C2", "deliverable", 1)))
    seed.status(AS_OF, "at_risk", commitment_id="C1")
    seed.status(AS_OF, "at_risk", commitment_id="C2")
    run(seed.url, smtp_url=smtp_server.url, digest=True)
    run(seed.url, smtp_url=smtp_server.url, digest=True)
    subjects = [str(m["Subject"]) for _, m in smtp_server.messages]
    digests = [s for s in subjects if "digest" in s]
    assert len(subjects) == 3 and digests == ["[partnerops] Daily digest for 2026-06-20: 2 alerts"]
    assert seed.query("select recipient, digest_date, status from raw.alert_digests") == [
        ("am@example.com", AS_OF, "sent")]


def test_dry_run_writes_and_sends_nothing(seed: Seed, smtp_server: SmtpServer):
    seed.agreement()
    seed.status(AS_OF, "at_risk")
    report = run_alerts(seed.url, AS_OF, now=NOW, dry_run=True, settings=settings(), schema=FIXTURE_SCHEMA)
    assert dict(report.raised) == {"at_risk": 1}
    assert report.examples[0].targets[0].recipient == "am@example.com"
    assert ledger(seed) == [] and smtp_server.messages == []


def test_no_channel_configured_is_a_user_error(seed: Seed):
    seed.agreement()
    with pytest.raises(UserError, match="PARTNEROPS_SMTP_URL"):
        run(seed.url)


def test_a_missing_mart_is_a_user_error(seed: Seed):
    with pytest.raises(UserError, match="alerts_nothing_here.commitment_statuses, .* do not exist yet"):
        run_alerts(seed.url, AS_OF, dry_run=True, settings=settings(), schema="alerts_nothing_here")
    seed.query(f"drop table {FIXTURE_SCHEMA}.agreement_contacts; select 1")
    with pytest.raises(UserError, match=r"mart\(s\) alerts_fixture.agreement_contacts do not exist yet"):
        run_alerts(seed.url, AS_OF, dry_run=True, settings=settings(), schema=FIXTURE_SCHEMA)


def test_burn_rate_warnings_fire_once_for_quota_and_threshold(seed: Seed, smtp_server: SmtpServer):
    seed.agreement(commitments=(("Q", "quota", 1),), quota_target=4)
    seed.agreement("TM-2026-0002", commitments=(("T", "threshold", 1),), error_budget=3)
    for day in (AS_OF, AS_OF + timedelta(days=1), AS_OF - timedelta(days=3)):
        # quota: 1 of 4 where the pace expects 2 -> projected 2, burn rate 2.0
        seed.status(day, "on_track", commitment_id="Q", kind="quota", due=date(2026, 12, 31), evidence_count=1,
                    progress_value=1, progress_target=2)
        # threshold: 2 of 5 monthly windows missed, budget 3 of 12 -> projected 4.8, burn rate 1.6
        seed.status(day, "on_track", agreement_id="TM-2026-0002", commitment_id="T", kind="threshold",
                    due=date(2026, 12, 31), evidence_count=5, progress_value=2, progress_target=3)
    first = run(seed.url, smtp_url=smtp_server.url)
    assert dict(first.raised) == {"burn_rate": 2}
    run(seed.url, AS_OF + timedelta(days=1), NOW + timedelta(days=1), smtp_url=smtp_server.url)
    run(seed.url, AS_OF - timedelta(days=3), NOW + timedelta(days=1), smtp_url=smtp_server.url)
    assert len(smtp_server.messages) == 2
    bodies = {str(m["Subject"]): m.get_payload()[0].get_payload(decode=True).decode() for _, m in smtp_server.messages}
    quota = next(b for s, b in bodies.items() if "Commitment Q" in s)
    threshold = next(b for s, b in bodies.items() if "Commitment T" in s)
    assert "burn rate 2.00" in quota and "1 attestation item(s) of a target of 4" in quota
    assert "burn rate 1.60" in threshold and "5 window(s) judged, 2 non-compliant (error budget 3)" in threshold


def test_an_unbounded_burn_rate_is_recorded_and_sent_as_unbounded(seed: Seed, smtp_server: SmtpServer,
                                                                     webhook: Webhook):
    """Nothing delivered half-way through the term: the pace reaches 0, so the rate has no bound.

    JSON has no infinity: the ledger's payload carries null, and the email and the webhook say "unbounded".
    """
    seed.agreement(commitments=(("Q", "quota", 1),), quota_target=4)
    seed.status(AS_OF, "on_track", commitment_id="Q", kind="quota", due=date(2026, 12, 31), progress_value=0,
                progress_target=2)
    report = run(seed.url, smtp_url=smtp_server.url, webhook_url=webhook.url, webhook_secret=webhook.secret)
    assert dict(report.raised) == {"burn_rate": 1}
    assert seed.query("select payload->>'burn_rate', payload ? 'burn_rate' from raw.alerts") == [(None, True)]
    [(_, msg)] = smtp_server.messages
    assert "burn rate unbounded" in msg.get_payload()[0].get_payload(decode=True).decode()
    [post] = webhook.posts
    assert "burn rate unbounded" in post["blocks"][0]["text"]["text"]


def test_window_warnings_are_sent_once_each_at_50_and_75_percent(seed: Seed, smtp_server: SmtpServer):
    seed.agreement(commitments=(("D", "deliverable", 1),))
    opens, due = date(2026, 6, 1), date(2026, 6, 30)  # 50 % on 06-16, 75 % on 06-23
    days = [date(2026, 6, 15), date(2026, 6, 16), date(2026, 6, 17), date(2026, 6, 23), date(2026, 6, 24)]
    for day in days:
        seed.status(day, "pending", commitment_id="D", due=due, opens=opens)
    raised = [dict(run(seed.url, day, now=NOW + timedelta(days=i), smtp_url=smtp_server.url).raised)
              for i, day in enumerate(days)]
    assert raised == [{}, {"window_50pct": 1}, {}, {"window_75pct": 1, "due_in_7_days": 1}, {}]
    assert [r[2:] for r in ledger(seed)] == [("due_in_7_days", "sent"), ("window_50pct", "sent"),
                                            ("window_75pct", "sent")]
    subjects = [str(m["Subject"]) for _, m in smtp_server.messages]
    assert len(subjects) == 3 and sum("50% of the window used" in s for s in subjects) == 1
    again = run(seed.url, date(2026, 6, 23), now=NOW + timedelta(days=9), smtp_url=smtp_server.url)
    assert sum(again.raised.values()) == 0 and len(smtp_server.messages) == 3


def test_window_warning_shares_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_ALERTS_WINDOW_WARNINGS", "0.8, 0.6")
    assert AlertSettings.from_env().window_warning_shares == (0.6, 0.8)
    monkeypatch.setenv("PARTNEROPS_ALERTS_WINDOW_WARNINGS", "50%")
    with pytest.raises(UserError, match="between 0.01 and 0.99"):
        AlertSettings.from_env()
    monkeypatch.delenv("PARTNEROPS_ALERTS_WINDOW_WARNINGS")
    assert AlertSettings.from_env().window_warning_shares == (0.5, 0.75)

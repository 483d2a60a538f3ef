"""One alert run: evaluate the rules as of a date, record new alerts, deliver what is unsent.

`run_alerts()` is the one implementation behind `partnerops alerts` and the `sla_alerts`
DAG. A run, holding the ledger's advisory lock:

1. reads every commitment instance's status as of the date, with its terms, its agreement's
   contacts and the recorded decisions, from the dbt marts (`status.MARTS_READ`) only;
2. evaluates the rules (`rules.py`) and the escalations (`routing.py`) and records each
   alert whose key is new, with its targets (`ledger.py`). An alert raised for an as-of
   date more than `max_lag_days` before today (an old backfill) is recorded as `stale`
   and never sent: it holds its key, and nobody gets last month's reminder;
3. delivers every pending alert (new ones, and earlier failures up to the maximum
   attempts) through the notifiers, recording each attempt as it is made;
4. with the daily digest on, records and delivers one digest per recipient and date.

`dry_run=True` writes nothing and sends nothing; the report lists what would be sent.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from partnerops import as_of as as_of_date
from partnerops.alerts import ledger
from partnerops.alerts.messages import alert_payload, render_digest, render_email, render_webhook
from partnerops.alerts.routing import Target, needs_escalation, route, targets
from partnerops.alerts.rules import evaluate, rule_order
from partnerops.alerts.status import (
    MARTS_SCHEMA,
    AgreementContacts,
    StatusRow,
    has_decision,
    load_contacts,
    load_decided_instances,
    load_status_rows,
    missing_marts,
)
from partnerops.db import connect
from partnerops.errors import UserError
from partnerops.settings import AlertSettings, Settings, get_settings

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class PlannedAlert:
    key: tuple[str, str, str, str]
    escalated: bool
    targets: tuple[Target, ...]
    payload: dict[str, Any]

    @property
    def rule(self) -> str:
        return self.key[3]


@dataclass
class AlertRunReport:
    as_of: date
    dry_run: bool
    status_rows: int = 0
    raised: Counter = field(default_factory=Counter)  # new alerts by rule (would be, in a dry run)
    stale: int = 0
    delivered: int = 0  # delivery attempts that succeeded
    failed: int = 0  # delivery attempts that failed
    still_pending: int = 0  # alerts and digests left to retry on the next run
    digests: int = 0
    examples: list[PlannedAlert] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would raise" if self.dry_run else "raised"
        by_rule = ", ".join(f"{n} {r}" for r, n in sorted(self.raised.items(), key=lambda x: rule_order(x[0])))
        text = f"as of {self.as_of}: {self.status_rows} instance statuses read; {verb} {sum(self.raised.values())} " \
               f"alert(s)" + (f" ({by_rule})" if by_rule else "")
        if not self.dry_run:
            text += (f"; {self.stale} stale (not sent); deliveries: {self.delivered} sent, {self.failed} failed; "
                     f"{self.still_pending} pending for retry")
            if self.digests:
                text += f"; {self.digests} digest(s) raised"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "dry_run": self.dry_run, "status_rows": self.status_rows,
                "raised": dict(self.raised), "stale": self.stale, "delivered": self.delivered,
                "failed": self.failed, "still_pending": self.still_pending, "digests": self.digests}


def run_alerts(url: str, as_of: date | None = None, *, dry_run: bool = False, now: datetime | None = None,
               settings: Settings | None = None, schema: str = MARTS_SCHEMA, max_examples: int = 5
               ) -> AlertRunReport:
    """Raise and deliver the alerts as of `as_of` (default: today on the ops clock); see the module doc.

    `schema` holds the marts read (`MARTS_READ`); the tests point it at tables of their own.
    """
    cfg = (settings or get_settings()).alerts
    now = now or datetime.now(UTC)
    as_of = as_of or as_of_date.today(now)
    email_on, webhook_url = bool(cfg.smtp_url), cfg.webhook_url
    if not dry_run and not (email_on or webhook_url):
        raise UserError("no alert channel is configured: set PARTNEROPS_SMTP_URL (email) and/or "
                        "PARTNEROPS_ALERTS_WEBHOOK_URL, or use --dry-run to see what would be sent")
    if not dry_run and webhook_url and not cfg.webhook_secret:
        raise UserError("PARTNEROPS_ALERTS_WEBHOOK_URL is set but PARTNEROPS_ALERTS_WEBHOOK_SECRET is not: webhook "
                        "posts are signed with that secret (docs/alerts.md, Verifying a webhook); set it, e.g. to "
                        "the output of `python -c 'import secrets; print(secrets.token_hex(32))'`, and give the "
                        "same value to the receiver")
    report = AlertRunReport(as_of=as_of, dry_run=dry_run)
    with connect(url, autocommit=True) as conn, conn.cursor() as cur:
        missing = missing_marts(cur, schema)
        if missing:
            raise UserError(f"the mart(s) {', '.join(missing)} do not exist yet: run commitment tracking first "
                            "(the commitment_tracking DAG, or `make demo`)")
        if not dry_run:
            ledger.lock(cur)
        try:
            rows = load_status_rows(cur, as_of, schema)
            report.status_rows = len(rows)
            planned = _plan(cur, rows, as_of, now, cfg, schema, email=email_on or dry_run, webhook_url=webhook_url)
            if dry_run:
                _dry_run(cur, planned, report, max_examples)
            else:
                _record(cur, planned, as_of, now, cfg, report, max_examples)
                _deliver_all(cur, "alert", cfg, report)
                if cfg.digest and not _is_stale(as_of, now, cfg):
                    _raise_digests(cur, as_of, report)
                    _deliver_all(cur, "digest", cfg, report)
        finally:
            if not dry_run:
                ledger.unlock(cur)
    log.info("alerts %s", report.summary())
    return report


# -- planning -----------------------------------------------------------------------------------

def _plan(cur: Any, rows: list[StatusRow], as_of: date, now: datetime, cfg: AlertSettings, schema: str, *,
          email: bool, webhook_url: str | None) -> list[PlannedAlert]:
    contacts = load_contacts(cur, sorted({r.agreement_id for r in rows}), schema)
    decided = load_decided_instances(cur, schema)
    escalation = ledger.escalation_state(cur)
    planned: list[PlannedAlert] = []
    for row in rows:
        people = contacts.get(row.agreement_id)
        if people is None:
            log.warning("%s is not in agreement_contacts; its alerts are skipped", row.agreement_id)
            continue
        is_decided = has_decision(decided, row)
        for hit in evaluate(row, as_of, decided=is_decided, burn_threshold=cfg.burn_rate_threshold,
                            burn_min_elapsed_share=cfg.burn_rate_min_elapsed_share,
                            window_shares=cfg.window_warning_shares):
            planned.append(_planned(hit.rule, row, people, cfg, email, webhook_url, burn=hit.burn))
        first_at, escalated = escalation.get(row.instance, (None, False))
        if needs_escalation(row, first_alert_at=first_at, already_escalated=escalated, decided=is_decided,
                            now=now, escalate_after_hours=cfg.escalate_after_hours):
            planned.append(_planned("escalated", row, people, cfg, email, webhook_url))
    return planned


def _planned(rule: str, row: StatusRow, people: AgreementContacts, cfg: AlertSettings, email: bool,
             webhook_url: str | None, burn: Any = None) -> PlannedAlert:
    routing = route(rule, row, people, at_once_weight=cfg.escalate_at_once_weight,
                    escalate_after_hours=cfg.escalate_after_hours)
    payload = alert_payload(row, people, rule=rule, escalated=routing.escalated,
                            escalation_reason=routing.reason, burn=burn)
    payload["recipients"] = [p.email for p in routing.people]
    return PlannedAlert((*row.instance, rule), routing.escalated,
                        tuple(targets(routing, email=email, webhook_url=webhook_url)), payload)


def _is_stale(as_of: date, now: datetime, cfg: AlertSettings) -> bool:
    return as_of < as_of_date.today(now) - timedelta(days=cfg.max_lag_days)


# -- recording ----------------------------------------------------------------------------------

def _dry_run(cur: Any, planned: list[PlannedAlert], report: AlertRunReport, max_examples: int) -> None:
    known = ledger.existing_keys(cur) if _ledger_exists(cur) else set()
    for p in planned:
        if p.key not in known:
            known.add(p.key)
            report.raised[p.rule] += 1
            _keep_example(report, p, max_examples)


def _record(cur: Any, planned: list[PlannedAlert], as_of: date, now: datetime, cfg: AlertSettings,
            report: AlertRunReport, max_examples: int) -> None:
    status = "stale" if _is_stale(as_of, now, cfg) else "pending"
    for p in planned:
        alert_id = ledger.record_alert(cur, key=p.key, as_of=as_of, status=status, escalated=p.escalated,
                                       targets=list(p.targets), payload=p.payload, now=now)
        if alert_id is not None:
            report.raised[p.rule] += 1
            report.stale += status == "stale"
            _keep_example(report, p, max_examples)


def _keep_example(report: AlertRunReport, p: PlannedAlert, max_examples: int) -> None:
    # One example per rule first, so a handful shows the variety.
    if len(report.examples) < max_examples and all(e.rule != p.rule for e in report.examples):
        report.examples.append(p)


def _ledger_exists(cur: Any) -> bool:
    cur.execute("select to_regclass('raw.alerts') is not null")
    return bool(cur.fetchone()[0])


def _raise_digests(cur: Any, as_of: date, report: AlertRunReport) -> None:
    for recipient, items in ledger.alerts_for_digest(cur, as_of).items():
        payload = {"recipient": recipient, "digest_date": as_of.isoformat(), "alerts": [p for _, p in items]}
        if ledger.record_digest(cur, recipient, as_of, [i for i, _ in items], payload) is not None:
            report.digests += 1


# -- delivery -----------------------------------------------------------------------------------

def _deliver_all(cur: Any, kind: str, cfg: AlertSettings, report: AlertRunReport) -> None:
    from partnerops.alerts.notifiers import smtp_connection

    with smtp_connection(cfg.smtp_url):
        for item in ledger.unsent(cur, kind):
            _deliver_item(cur, item, cfg, report)


def _deliver_item(cur: Any, item: ledger.LedgerItem, cfg: AlertSettings, report: AlertRunReport) -> None:
    done = ledger.attempts(cur, item)
    for target in item.targets:
        tried, sent = done.get(target, (0, False))
        if sent or tried >= cfg.max_attempts:
            continue
        error = _send(item, target, cfg)
        ledger.record_attempt(cur, item, target, tried + 1, error)
        done[target] = (tried + 1, error is None)
        if error is None:
            report.delivered += 1
        else:
            report.failed += 1
            log.warning("%s %s to %s %s failed (attempt %d of %d): %s", item.kind, item.item_id, target.channel,
                        target.recipient, tried + 1, cfg.max_attempts, error)
    if all(done.get(t, (0, False))[1] for t in item.targets):
        ledger.settle(cur, item, "sent")
    elif all(done.get(t, (0, False))[1] or done.get(t, (0, False))[0] >= cfg.max_attempts for t in item.targets):
        ledger.settle(cur, item, "failed")
    else:
        report.still_pending += 1


def _send(item: ledger.LedgerItem, target: Target, cfg: AlertSettings) -> str | None:
    """Deliver one item to one target; the error text when it failed, else None."""
    from partnerops.alerts.notifiers import AlertEmailNotifier, WebhookNotifier

    if target.channel == "email":
        message = (render_email(item.payload) if item.kind == "alert"
                   else render_digest(date.fromisoformat(item.payload["digest_date"]), item.payload["alerts"]))
        if not cfg.smtp_url:
            return "email is not configured (PARTNEROPS_SMTP_URL is unset)"
        notifier: Any = AlertEmailNotifier(to=target.recipient, subject=message.subject, text_content=message.text,
                                           html_content=message.html, from_email=cfg.from_email)
    else:
        if not cfg.webhook_url:
            return "the webhook is not configured (PARTNEROPS_ALERTS_WEBHOOK_URL is unset)"
        notifier = WebhookNotifier(url=cfg.webhook_url, payload=render_webhook(item.payload),
                                   secret=cfg.webhook_secret, delivery_id=f"{item.kind}-{item.item_id}")
    try:
        notifier({})
    except Exception as exc:  # any refusal is recorded and retried on the next run
        return f"{type(exc).__name__}: {exc}"[:1000]
    return None


# -- the DAG's work -----------------------------------------------------------------------------

def alerts_for_dag_run(triggering_asset_events: Any, dag_run: Any, *,
                       conn_id: str | None = None) -> list[dict[str, Any]]:
    """The `sla_alerts` task: one alert run per as-of date of the triggering events.

    With no channel configured the run is a dry run (logged, nothing recorded), so a fresh
    installation shows what it would send instead of failing every day. The database is the
    Airflow connection `conn_id` (default `partnerops_db`; `partnerops.db.database_url`).
    """
    from partnerops.db import database_url

    cfg = get_settings().alerts
    dry_run = not (cfg.smtp_url or cfg.webhook_url)
    if dry_run:
        log.warning("no alert channel configured (PARTNEROPS_SMTP_URL, PARTNEROPS_ALERTS_WEBHOOK_URL): dry run")
    url = database_url(conn_id=conn_id)
    reports = []
    for as_of in as_of_date.dates_for_run(dag_run, triggering_asset_events):
        report = run_alerts(url, as_of, dry_run=dry_run)
        log.info("%s", report.summary())
        reports.append(report.as_dict())
    return reports

"""Who an alert goes to, and when it escalates.

- Every alert goes to the agreement's account manager (the current version's
  `account_manager_email`, mart `agreement_contacts`).
- The breach of a high-weight commitment (weight at or above
  `PARTNEROPS_ESCALATE_AT_ONCE_WEIGHT`, default 3) also goes to the escalation contacts at once.
- An `at_risk` or `breached` alert that has had no decision (mart `commitment_decisions`)
  for `PARTNEROPS_ESCALATE_AFTER_HOURS` (default 48) raises one `escalated` alert for the
  instance, to the escalation contacts with the account manager in copy, unless the
  instance was escalated already or is no longer at risk or breached.

Each person is one email target; a configured webhook is one more target per alert.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from partnerops.alerts.status import AgreementContacts, Contact, StatusRow

ESCALATING_STATUSES = frozenset({"at_risk", "breached"})
ESCALATING_RULES = ("at_risk", "breached")


@dataclass(frozen=True)
class Routing:
    people: tuple[Contact, ...]
    escalated: bool = False
    reason: str = ""


@dataclass(frozen=True, order=True)
class Target:
    channel: str  # 'email' or 'webhook'
    recipient: str

    def as_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "recipient": self.recipient}


def route(rule: str, row: StatusRow, contacts: AgreementContacts, *, at_once_weight: float,
          escalate_after_hours: float) -> Routing:
    """The people an alert of `rule` on `row` goes to."""
    manager = contacts.account_manager
    escalation = contacts.escalation_contacts
    if rule == "escalated":
        return Routing(_unique((*escalation, manager)), True,
                       f"no decision recorded within {escalate_after_hours:g} hours of the first alert")
    if rule == "breached" and row.weight >= at_once_weight and escalation:
        return Routing(_unique((manager, *escalation)), True,
                       f"breach of a high-weight commitment (weight {row.weight:g} >= {at_once_weight:g})")
    return Routing((manager,))


def needs_escalation(row: StatusRow, *, first_alert_at: datetime | None, already_escalated: bool,
                     decided: bool, now: datetime, escalate_after_hours: float) -> bool:
    """Whether the instance's at-risk/breach alert has waited too long for a decision."""
    if first_alert_at is None or already_escalated or decided or row.status not in ESCALATING_STATUSES:
        return False
    return now - first_alert_at >= timedelta(hours=escalate_after_hours)


def targets(routing: Routing, *, email: bool, webhook_url: str | None) -> list[Target]:
    """The delivery targets of an alert: one per person by email, one for the webhook."""
    out = [Target("email", p.email) for p in routing.people] if email else []
    if webhook_url:
        out.append(Target("webhook", webhook_label(webhook_url)))
    return out


def webhook_label(url: str) -> str:
    """A name for the webhook that is safe to store: host and a hash, never the secret path."""
    parts = urlsplit(url)
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"{parts.scheme}://{parts.netloc}#{digest}"


def _unique(people: tuple[Contact, ...]) -> tuple[Contact, ...]:
    seen: set[str] = set()
    out = []
    for p in people:
        key = p.email.strip().lower()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return tuple(out)

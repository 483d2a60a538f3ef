"""What the alert rules read: one commitment instance's status as of a date.

The alerts read the dbt marts only, never the raw tables: exactly `MARTS_READ`, which the
`sla_alerts` exposure (dbt_project/models/marts/tracking/_marts__exposures.yml) lists.

- `StatusRow` is the input shape of the rules; `load_status_rows()` is the one query that
  fills it, from `commitment_statuses` and the terms in `commitments`. When the marts'
  columns change, only that query changes.
- `AgreementContacts` comes from `agreement_contacts` (the current version's people);
- `load_decided_instances()` from `commitment_decisions`.

Every function takes the schema the marts are in (`marts`; the tests use a schema of
tables built from the marts' contracts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

#: The schema of the public dbt marts (dbt_project/macros/generate_schema_name.sql).
MARTS_SCHEMA = "marts"
#: The marts the alerts read, and nothing else: the `sla_alerts` exposure declares exactly these.
MARTS_READ = ("commitment_statuses", "commitments", "agreement_contacts", "commitment_decisions")
#: The status mart: one row per commitment instance and as-of date.
STATUS_MART = f"{MARTS_SCHEMA}.commitment_statuses"

OPEN_STATUSES = frozenset({"pending", "on_track", "at_risk", "paused", "excused"})
TERMINAL_STATUSES = frozenset({"delivered", "delivered_late", "breached", "waived", "superseded"})
STATUSES = OPEN_STATUSES | TERMINAL_STATUSES | {"insufficient_data"}


@dataclass(frozen=True)
class StatusRow:
    """One commitment instance's status as of a date (one row of the status mart).

    instance_key is 'term' for single-instance commitments and the period's first day
    (YYYY-MM-DD) for an instance of a recurring one. `due_date` is a whole local day:
    evidence at any instant of it is on time. `breach_date` is the due date plus grace,
    the last day of grace (without evidence the instance is breached from the next day),
    when the mart knows it.
    The instance's window runs from `opens_date` to `due_date` (a quota's: its term).
    Burn-rate inputs: a quota's `quota_progress` against `quota_target` (and, when the
    mart paces on a plan curve, `quota_expected_share` of the target due by the as-of
    date); a threshold's judged, missed and total windows and its `error_budget`
    (the non-compliant windows the term allows).
    """

    agreement_id: str
    commitment_id: str
    instance_key: str
    as_of_date: date
    status: str
    kind: str
    pillar: str
    obligor: str
    commitment_title: str
    due_date: date | None
    weight: float
    evidence_found: str = "none"
    reason: str | None = None
    service: str | None = None
    breach_date: date | None = None
    term_start: date | None = None
    term_end: date | None = None
    quota_target: float | None = None
    quota_progress: float | None = None
    quota_expected_share: float | None = None
    windows_total: int | None = None
    windows_judged: int | None = None
    windows_missed: int | None = None
    error_budget: int | None = None
    remedy: str | None = None
    opens_date: date | None = None

    @property
    def instance(self) -> tuple[str, str, str]:
        return (self.agreement_id, self.commitment_id, self.instance_key)


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    role: str | None = None


@dataclass(frozen=True)
class AgreementContacts:
    """The current version's people and names, for routing and for the messages."""

    agreement_id: str
    agreement_title: str
    brand_name: str
    group_name: str
    account_manager: Contact
    escalation_contacts: tuple[Contact, ...] = field(default_factory=tuple)


# -- queries ------------------------------------------------------------------------------------

# Columns of the marts (dbt_project/models/marts/tracking/commitment_statuses.sql and
# commitments.sql): the term, the quota target and the threshold's windows come from the
# terms of the instance's agreement version.
_STATUS_QUERY = """
    select s.agreement_id, s.commitment_id, s.instance_key, s.as_of_date, s.status, s.kind, s.pillar,
           s.obligor, s.commitment_title, s.due_date, s.weight::float8, s.status_reason, s.service,
           s.breach_date, s.evidence_type, s.evidence_count, s.delivered_at,
           s.progress_value::float8, s.progress_target::float8, s.opens_date,
           c.term_start_date, c.term_end_date, c.quota_target::float8, c.threshold_error_budget, c.remedy,
           c.threshold_windows_in_term
      from {schema}.commitment_statuses s
      left join {schema}.commitments c
        on c.agreement_id = s.agreement_id and c.agreement_version = s.agreement_version
       and c.commitment_id = s.commitment_id
     where s.as_of_date = %s
     order by s.agreement_id, s.commitment_id, s.instance_key
"""


def load_status_rows(cur: Any, as_of: date, schema: str = MARTS_SCHEMA) -> list[StatusRow]:
    """Every commitment instance's status as of `as_of`, with its terms, from the marts in `schema`."""
    cur.execute(_STATUS_QUERY.format(schema=schema), (as_of,))
    return [_status_row(*r) for r in cur.fetchall()]


def _status_row(agreement_id, commitment_id, instance_key, as_of_date, status, kind, pillar, obligor, title,
                due_date, weight, reason, service, breach_date, evidence_type, evidence_count, delivered_at,
                progress_value, progress_target, opens_date, term_start, term_end, quota_target, error_budget,
                remedy, windows_total) -> StatusRow:
    row = StatusRow(
        agreement_id=agreement_id, commitment_id=commitment_id, instance_key=instance_key, as_of_date=as_of_date,
        status=status, kind=kind, pillar=pillar, obligor=obligor, commitment_title=title, due_date=due_date,
        weight=weight, reason=reason, service=service, breach_date=breach_date, term_start=term_start,
        term_end=term_end, remedy=remedy, opens_date=opens_date,
        evidence_found=_evidence_found(kind, evidence_type, evidence_count, delivered_at, progress_value,
                                       progress_target, quota_target, error_budget),
    )
    if kind == "quota":
        # progress_value: evidence so far; progress_target: what the pace (pro rata or plan curve) expects by now
        share = progress_target / quota_target if quota_target and progress_target is not None else None
        return replace(row, quota_target=quota_target, quota_progress=progress_value, quota_expected_share=share)
    if kind == "threshold":
        # evidence_count: windows judged; progress_value: windows missed; progress_target: the error budget
        budget = error_budget if error_budget is not None else progress_target
        return replace(row, windows_total=windows_total, windows_judged=evidence_count,
                       windows_missed=None if progress_value is None else int(progress_value),
                       error_budget=None if budget is None else int(budget))
    return row


def _evidence_found(kind, evidence_type, count, delivered_at, progress_value, progress_target, quota_target,
                    error_budget) -> str:
    """The evidence an instance has, in words (what every message shows)."""
    if kind == "quota":
        return (f"{progress_value or 0:g} {evidence_type} item(s) of a target of {quota_target or 0:g}"
                + (f"; the pace expects {progress_target:g} by now" if progress_target is not None else ""))
    if kind == "threshold":
        missed = int(progress_value or 0)
        return (f"{count or 0} window(s) judged, {missed} non-compliant "
                f"(error budget {error_budget if error_budget is not None else progress_target})")
    if not count:
        return f"none ({evidence_type} expected)"
    when = f", delivered at {delivered_at.isoformat(timespec='minutes')}" if delivered_at else ""
    return f"{count} {evidence_type} item(s){when}"


def status_mart_exists(cur: Any, relation: str = STATUS_MART) -> bool:
    cur.execute("select to_regclass(%s) is not null", (relation,))
    return bool(cur.fetchone()[0])


def missing_marts(cur: Any, schema: str = MARTS_SCHEMA) -> list[str]:
    """The marts of `MARTS_READ` not (yet) built in `schema`, as schema.name."""
    return [f"{schema}.{name}" for name in MARTS_READ if not status_mart_exists(cur, f"{schema}.{name}")]


def load_contacts(cur: Any, agreement_ids: list[str], schema: str = MARTS_SCHEMA) -> dict[str, AgreementContacts]:
    """The current version's contacts of each agreement."""
    cur.execute(
        f"""select agreement_id, agreement_title, brand_name, group_name, account_manager_name,
                   account_manager_email, escalation_contacts
              from {schema}.agreement_contacts
             where agreement_id = any(%s)""",
        (agreement_ids,),
    )
    out = {}
    for agreement_id, title, brand, group, am_name, am_email, contacts in cur.fetchall():
        if isinstance(contacts, str):
            contacts = json.loads(contacts)
        out[agreement_id] = AgreementContacts(
            agreement_id=agreement_id, agreement_title=title, brand_name=brand, group_name=group,
            account_manager=Contact(am_name, am_email, "account manager"),
            escalation_contacts=tuple(Contact(c.get("name") or c["email"], c["email"], c.get("role"))
                                      for c in contacts or [] if c.get("email")),
        )
    return out


def load_decided_instances(cur: Any, schema: str = MARTS_SCHEMA) -> set[tuple[str, str, str | None]]:
    """(agreement, commitment, instance key) with a recorded decision; None: every instance."""
    cur.execute(f"select distinct agreement_id, commitment_id, instance_key from {schema}.commitment_decisions")
    return {tuple(r) for r in cur.fetchall()}


def has_decision(decided: set[tuple[str, str, str | None]], row: StatusRow) -> bool:
    return (row.agreement_id, row.commitment_id, row.instance_key) in decided or (
        row.agreement_id, row.commitment_id, None) in decided

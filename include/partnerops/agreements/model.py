"""The typed model of an agreement document (format v1).

The JSON Schema in `partnerops/schemas/agreement.v1.schema.json` is the source of truth
for the structure and the vocabularies; this module gives validated documents types.
Build instances only through `partnerops.agreements.validate`, which checks first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

from partnerops.settings import AGREEMENT_DEFAULT_TIMEZONE

Pillar = Literal["data_operations", "marketing", "logistics", "channel"]
Kind = Literal["deliverable", "recurring", "quota", "threshold"]
Obligor = Literal["platform", "brand"]
Period = Literal["week", "month", "quarter"]

DEFAULT_TIMEZONE = AGREEMENT_DEFAULT_TIMEZONE  # when a document names no `timezone`
DEFAULT_WARNING_ELAPSED_SHARE = 0.75


@cache
def agreement_schema() -> dict[str, Any]:
    """The committed JSON Schema, format v1."""
    text = resources.files("partnerops.schemas").joinpath("agreement.v1.schema.json").read_text("utf-8")
    return json.loads(text)


def vocabulary(name: str) -> list[str]:
    """An enumerated vocabulary from the schema: pillar, service, kind, obligor, metric, ..."""
    return list(agreement_schema()["$defs"][name]["enum"])


def services_by_pillar() -> dict[str, list[str]]:
    """Which services belong to which pillar, as the schema states it."""
    out: dict[str, list[str]] = {}
    for rule in agreement_schema()["$defs"]["commitment"]["allOf"]:
        pillar = rule["if"]["properties"].get("pillar", {}).get("const")
        if pillar:
            out[pillar] = list(rule["then"]["properties"]["service"]["enum"])
    return out


@dataclass(frozen=True)
class Offset:
    """A span in calendar days or in business days (never both)."""

    days: int = 0
    business_days: int = 0

    @classmethod
    def parse(cls, raw: dict[str, int] | None) -> Offset:
        return cls(**raw) if raw else cls()

    def as_dict(self) -> dict[str, int]:
        return {"business_days": self.business_days} if self.business_days else {"days": self.days}


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    role: str | None = None


@dataclass(frozen=True)
class Recurrence:
    every: Period
    due_after: Offset
    starts: date | None = None
    ends: date | None = None


@dataclass(frozen=True)
class Quota:
    target: int
    pacing: Literal["pro_rata", "seasonal"] = "pro_rata"
    tolerance: float = 0.1


@dataclass(frozen=True)
class Threshold:
    metric: str
    comparison: Literal["at_least", "at_most"]
    target: float
    window: Period
    min_sample: int = 30
    error_budget: int = 0


@dataclass(frozen=True)
class Evidence:
    type: str
    match: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Warning:
    elapsed_share: float | None = DEFAULT_WARNING_ELAPSED_SHARE
    business_days_before_due: int | None = None


@dataclass(frozen=True)
class Commitment:
    id: str
    title: str
    pillar: Pillar
    service: str
    obligor: Obligor
    kind: Kind
    evidence: Evidence
    description: str | None = None
    opens: date | None = None
    due: date | None = None
    recurrence: Recurrence | None = None
    quota: Quota | None = None
    threshold: Threshold | None = None
    grace: Offset = Offset()
    warning: Warning = Warning()
    depends_on: str | None = None
    weight: float = 1.0
    remedy: str | None = None

    @property
    def beneficiary(self) -> Obligor:
        return "brand" if self.obligor == "platform" else "platform"


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    version: int
    brand_id: str
    brand_name: str
    group_id: str
    group_name: str
    signed_date: date
    term_start: date
    term_end: date
    account_manager: Person
    gmv_target_amount: float
    gmv_target_currency: str
    commitments: tuple[Commitment, ...]
    timezone: str = DEFAULT_TIMEZONE
    escalation_contacts: tuple[Person, ...] = ()
    title: str | None = None
    amendment_note: str | None = None
    effective_from: date | None = None

    @property
    def effective_date(self) -> date:
        """The day this version's terms take effect: `effective_from`, default the signed date."""
        return self.effective_from or self.signed_date

    @property
    def pillars(self) -> list[str]:
        return sorted({c.pillar for c in self.commitments})


def _date(raw: str | None) -> date | None:
    return date.fromisoformat(raw) if raw else None


def _commitment(raw: dict[str, Any]) -> Commitment:
    rec = raw.get("recurrence")
    warning = raw.get("warning")
    return Commitment(
        id=raw["id"],
        title=raw["title"],
        description=raw.get("description"),
        pillar=raw["pillar"],
        service=raw["service"],
        obligor=raw["obligor"],
        kind=raw["kind"],
        evidence=Evidence(type=raw["evidence"]["type"], match=dict(raw["evidence"].get("match", {}))),
        opens=_date(raw.get("opens")),
        due=_date(raw.get("due")),
        recurrence=Recurrence(
            every=rec["every"],
            due_after=Offset.parse(rec["due_after"]),
            starts=_date(rec.get("starts")),
            ends=_date(rec.get("ends")),
        )
        if rec
        else None,
        quota=Quota(**raw["quota"]) if raw.get("quota") else None,
        threshold=Threshold(**raw["threshold"]) if raw.get("threshold") else None,
        grace=Offset.parse(raw.get("grace")),
        warning=Warning(
            elapsed_share=warning.get("elapsed_share", DEFAULT_WARNING_ELAPSED_SHARE),
            business_days_before_due=warning.get("business_days_before_due"),
        )
        if warning
        else Warning(),
        depends_on=raw.get("depends_on"),
        weight=float(raw.get("weight", 1)),
        remedy=raw.get("remedy"),
    )


def agreement_from_document(doc: dict[str, Any]) -> Agreement:
    """Build the typed model from a document that has passed schema validation."""
    return Agreement(
        agreement_id=doc["agreement_id"],
        version=int(doc["version"]),  # JSON Schema counts 2.0 as an integer
        title=doc.get("title"),
        amendment_note=doc.get("amendment_note"),
        brand_id=doc["brand"]["id"],
        brand_name=doc["brand"]["name"],
        group_id=doc["group"]["id"],
        group_name=doc["group"]["name"],
        signed_date=date.fromisoformat(doc["signed_date"]),
        effective_from=_date(doc.get("effective_from")),
        term_start=date.fromisoformat(doc["term"]["start"]),
        term_end=date.fromisoformat(doc["term"]["end"]),
        timezone=doc.get("timezone", DEFAULT_TIMEZONE),
        account_manager=Person(**doc["account_manager"]),
        escalation_contacts=tuple(Person(**p) for p in doc.get("escalation_contacts", [])),
        gmv_target_amount=float(doc["gmv_target"]["amount"]),
        gmv_target_currency=doc["gmv_target"]["currency"],
        commitments=tuple(_commitment(c) for c in doc["commitments"]),
    )

"""What a status means, in the words the Partnerships view uses.

The statuses are decided in the dbt project (`int_commitment_statuses_resolved`); this
module only names them for people: a label, the colour class the pages use, how urgent
each is (for sorting), and a one-line reason when the mart has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

__all__ = ["ATTENTION_STATUSES", "STATUSES", "STATUS_LABELS", "SIDES", "PILLARS", "plain_reason", "status_rank",
           "worst_status"]

#: Every status, worst first (the order a heat-map cell and a sort use).
STATUSES: tuple[str, ...] = (
    "breached", "at_risk", "insufficient_data", "delivered_late", "pending", "paused", "on_track", "excused",
    "waived", "delivered", "superseded",
)

STATUS_LABELS: dict[str, str] = {
    "breached": "Breached",
    "at_risk": "At risk",
    "insufficient_data": "Insufficient data",
    "delivered_late": "Delivered late",
    "pending": "Pending",
    "paused": "Paused",
    "on_track": "On track",
    "excused": "Excused",
    "waived": "Waived",
    "delivered": "Delivered",
    "superseded": "Superseded",
}

#: The statuses the attention queue lists: someone has to act or decide.
ATTENTION_STATUSES: tuple[str, ...] = ("breached", "at_risk")

SIDES: tuple[str, ...] = ("platform", "brand")
PILLARS: tuple[str, ...] = ("data_operations", "marketing", "logistics", "channel")


def status_rank(status: str | None) -> int:
    """0 for the worst status; unknown statuses sort last."""
    return STATUSES.index(status) if status in STATUSES else len(STATUSES)


def worst_status(statuses: list[str]) -> str | None:
    return min(statuses, key=status_rank) if statuses else None


def _num(value: Any) -> str:
    """3 -> "3", 1.5123 -> "1.5": counts read as counts, paces to one decimal."""
    if value is None:
        return "?"
    if isinstance(value, Decimal | float):
        return str(int(value)) if value == int(value) else f"{float(value):.1f}"
    return str(value)


def plain_reason(row: Mapping[str, Any]) -> str:
    """Why the instance has its status, in one sentence.

    The mart's `status_reason` says why a status differs from the kind's rule (waived,
    excused, insufficient data...); otherwise the sentence is built from the rule's inputs.
    """
    if row.get("status_reason"):
        return str(row["status_reason"])
    status, kind = row.get("status"), row.get("kind")
    due: date | None = row.get("due_date")
    if kind == "quota" and status in ("at_risk", "breached", "on_track"):
        expected = "required" if status == "breached" else "expected by now"
        return f"{_num(row.get('progress_value'))} counted of {_num(row.get('progress_target'))} {expected}"
    if kind == "threshold" and status in ("at_risk", "breached", "on_track"):
        return (f"{_num(row.get('progress_value'))} non-compliant windows of an error budget of "
                f"{_num(row.get('progress_target'))}")
    if status == "breached":
        return f"no evidence of delivery by the deadline {row.get('breach_date') or due}"
    if status == "at_risk":
        return f"no evidence of delivery yet, and the warning point {row.get('warning_date')} has passed; due {due}"
    if status == "delivered_late":
        return f"delivered after the due date {due}"
    if status == "delivered":
        return "delivered on time"
    if status == "pending":
        return f"not due yet (due {due})"
    if status == "on_track":
        return "on track"
    if status == "paused":
        return "paused"
    return STATUS_LABELS.get(str(status), str(status))

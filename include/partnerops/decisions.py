"""Account managers' decisions on commitments: waive, dispute, accept a late delivery.

Decisions are taken in the Airflow UI (Required Actions) on the per-agreement DAGs: for every
commitment that is at risk or breached as of a run's date, the DAG asks the agreement's
account manager through a human-in-the-loop task (`partnerops.agreement_dags`). This module
turns that task's response into rows of `raw.commitment_decisions` (who, when, why), the
source the dbt models read to produce `waived` (and, with `accept_late`, `delivered` once a
late delivery arrives; `dispute` sets `is_disputed`). It is the one place that writes there.

Nothing here imports Airflow: the functions take plain values and are unit-tested alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "DECISION_OPTIONS",
    "NO_DECISION",
    "Decision",
    "DecisionError",
    "decided_instances",
    "decisions_on",
    "decision_from_response",
    "record_decision",
]

#: The options the account manager sees, and the decision each one records.
DECISION_OPTIONS: dict[str, str] = {
    "Waive": "waive",
    "Dispute": "dispute",
    "Accept late delivery": "accept_late",
}
#: The option taken when the decision window closes without an answer: nothing is recorded.
NO_DECISION = "No decision yet"


class DecisionError(ValueError):
    """A response that cannot be recorded; the message says what to fix."""


@dataclass(frozen=True)
class Decision:
    """One account-manager decision on one or more instances of a commitment."""

    agreement_id: str
    commitment_id: str
    instance_keys: tuple[str | None, ...]
    decision: str
    comment: str
    decided_by: str
    decided_at: datetime

    def __post_init__(self) -> None:
        if self.decision not in DECISION_OPTIONS.values():
            raise DecisionError(f"unknown decision {self.decision!r}; expected one of "
                                f"{sorted(DECISION_OPTIONS.values())}")
        if not self.comment.strip():
            raise DecisionError(f"a {self.decision} of {self.agreement_id}/{self.commitment_id} needs a comment "
                                "saying why; enter it in the Comment field")
        if not self.decided_by.strip():
            raise DecisionError("the decision has no author")
        if self.decided_at.tzinfo is None:
            raise DecisionError(f"decided_at {self.decided_at!r} has no time zone")
        if not self.instance_keys:
            raise DecisionError("the decision names no commitment instance (use None for every instance)")


def _user_name(user: Any) -> str:
    """The authenticated login in `responded_by_user` of a HITL response: {"id", "name"} (or a plain string).

    The name is the login the person signed in with, their email (`partnerops.people`); the
    id is the auth manager's own key (a number under FAB), kept only when there is no name.
    """
    if isinstance(user, Mapping):
        return str(user.get("name") or "").strip() or str(user.get("id") or "").strip()
    return str(user or "").strip()


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def decision_from_response(
    *,
    agreement_id: str,
    commitment_id: str,
    instance_keys: Sequence[str | None],
    chosen_options: Sequence[str],
    params_input: Mapping[str, Any] | None,
    responded_by_user: Any,
    responded_at: Any,
) -> Decision | None:
    """The decision in a human-in-the-loop response; None for "no decision" (or the timeout default).

    Raises `DecisionError` when the response cannot be recorded (no comment, unknown option).
    """
    if len(chosen_options) != 1:
        raise DecisionError(f"expected exactly one option, got {list(chosen_options)}")
    option = chosen_options[0]
    if option == NO_DECISION or responded_by_user is None:
        return None
    if option not in DECISION_OPTIONS:
        raise DecisionError(f"unknown option {option!r}; expected one of {[*DECISION_OPTIONS, NO_DECISION]}")
    return Decision(
        agreement_id=agreement_id,
        commitment_id=commitment_id,
        instance_keys=tuple(instance_keys) or (None,),
        decision=DECISION_OPTIONS[option],
        comment=str((params_input or {}).get("comment") or ""),
        decided_by=_user_name(responded_by_user),
        decided_at=_as_datetime(responded_at),
    )


def record_decision(url: str, decision: Decision) -> list[int]:
    """Insert one `raw.commitment_decisions` row per instance of the decision; returns their ids."""
    from partnerops.db import connect

    ids: list[int] = []
    with connect(url) as conn, conn.cursor() as cur:
        for key in decision.instance_keys:
            cur.execute(
                """insert into raw.commitment_decisions
                       (agreement_id, commitment_id, instance_key, decision, comment, decided_by, decided_at)
                   values (%s, %s, %s, %s, %s, %s, %s)
                   returning decision_id""",
                (decision.agreement_id, decision.commitment_id, key, decision.decision, decision.comment.strip(),
                 decision.decided_by, decision.decided_at),
            )
            ids.append(cur.fetchone()[0])
    return ids


def decided_instances(url: str, agreement_id: str, commitment_ids: Iterable[str] | None = None) -> set[tuple[str, str]]:
    """(commitment_id, instance_key) pairs of an agreement that already have a decision.

    A decision without an instance key covers every instance; it is returned as key "*".
    The per-agreement DAG asks again only about instances nobody has decided on yet.
    """
    from partnerops.db import connect

    wanted = list(commitment_ids) if commitment_ids is not None else None
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """select distinct commitment_id, coalesce(instance_key, '*')
                 from raw.commitment_decisions
                where agreement_id = %s and (%s::text[] is null or commitment_id = any(%s::text[]))""",
            (agreement_id, wanted, wanted),
        )
        return {(c, k) for c, k in cur.fetchall()}


def decisions_on(url: str, agreement_id: str, commitment_id: str,
                 instance_keys: Sequence[str | None]) -> list[dict[str, Any]] | None:
    """The latest decision on each of a commitment's instances, or None while any of them has none.

    A decision without an instance key covers every instance. Used by a waiting commitment
    task to settle as soon as the account manager has answered.
    """
    from partnerops.db import connect

    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """select distinct on (coalesce(instance_key, '*'))
                      coalesce(instance_key, '*'), decision, comment, decided_by, decided_at
                 from raw.commitment_decisions
                where agreement_id = %s and commitment_id = %s
                order by coalesce(instance_key, '*'), decided_at desc, decision_id desc""",
            (agreement_id, commitment_id),
        )
        latest = {key: {"decision": d, "comment": c, "decided_by": by, "decided_at": at.isoformat()}
                  for key, d, c, by, at in cur.fetchall()}
    found = []
    for key in instance_keys or [None]:
        decision = latest.get(key or "*") or latest.get("*")
        if decision is None:
            return None
        if decision not in found:
            found.append(decision)
    return found

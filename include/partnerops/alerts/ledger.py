"""The alert ledger (`raw.alerts`, `raw.alert_digests`, `raw.alert_deliveries`; migration 0004).

The ledger is what makes an alert go out once:

- `record_alert()` inserts with `on conflict do nothing` on the alert key, so an alert that
  any earlier run (or a backfill, or a retry) raised is never raised again;
- a delivery attempt is written right after it is made, one row per target and attempt;
  a target with a `sent` row is never attempted again (a partial unique index forbids a
  second `sent` row), and a failed one is retried on later runs up to the maximum;
- callers hold `ALERTS_LOCK_KEY` (a PostgreSQL advisory lock) for the whole run, so two
  concurrent runs never both deliver the same alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from partnerops.alerts.routing import Target

#: pg advisory lock: one alert run (recording and delivering) at a time per database.
ALERTS_LOCK_KEY = 7_001_004


@dataclass(frozen=True)
class LedgerItem:
    """An alert or digest that still has targets to deliver to."""

    kind: str  # 'alert' or 'digest'
    item_id: int
    targets: tuple[Target, ...]
    payload: dict[str, Any]


def lock(cur: Any) -> None:
    cur.execute("select pg_advisory_lock(%s)", (ALERTS_LOCK_KEY,))


def unlock(cur: Any) -> None:
    cur.execute("select pg_advisory_unlock(%s)", (ALERTS_LOCK_KEY,))


def existing_keys(cur: Any) -> set[tuple[str, str, str, str]]:
    cur.execute("select agreement_id, commitment_id, instance_key, rule from raw.alerts")
    return {tuple(r) for r in cur.fetchall()}


def record_alert(cur: Any, *, key: tuple[str, str, str, str], as_of: date, status: str, escalated: bool,
                 targets: list[Target], payload: dict[str, Any], now: datetime) -> int | None:
    """Insert the alert unless its key is in the ledger already; its id when inserted, else None."""
    cur.execute(
        """insert into raw.alerts (agreement_id, commitment_id, instance_key, rule, as_of_date, status,
                                   is_escalated, recipients, payload, created_at)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           on conflict (agreement_id, commitment_id, instance_key, rule) do nothing
           returning alert_id""",
        (*key, as_of, status, escalated, json.dumps([t.as_dict() for t in targets]),
         json.dumps(payload, ensure_ascii=False), now),
    )
    row = cur.fetchone()
    return row[0] if row else None


def escalation_state(cur: Any) -> dict[tuple[str, str, str], tuple[datetime | None, bool]]:
    """Per instance: when its first at-risk/breach alert was raised, and whether it was escalated."""
    cur.execute(
        """select agreement_id, commitment_id, instance_key,
                  min(created_at) filter (where rule in ('at_risk', 'breached')),
                  bool_or(is_escalated)
             from raw.alerts
            where status <> 'stale'
            group by 1, 2, 3"""
    )
    return {(a, c, i): (first, bool(esc)) for a, c, i, first, esc in cur.fetchall()}


def unsent(cur: Any, kind: str) -> list[LedgerItem]:
    """Pending alerts (or digests), oldest first, with their targets."""
    table, id_col, targets_sql = {
        "alert": ("raw.alerts", "alert_id", "recipients"),
        "digest": ("raw.alert_digests", "digest_id",
                   """jsonb_build_array(jsonb_build_object('channel', 'email', 'recipient', recipient))"""),
    }[kind]
    cur.execute(f"select {id_col}, {targets_sql}, payload from {table} where status = 'pending' order by {id_col}")
    out = []
    for item_id, targets, payload in cur.fetchall():
        targets = json.loads(targets) if isinstance(targets, str) else targets
        payload = json.loads(payload) if isinstance(payload, str) else payload
        out.append(LedgerItem(kind, item_id, tuple(Target(t["channel"], t["recipient"]) for t in targets), payload))
    return out


def attempts(cur: Any, item: LedgerItem) -> dict[Target, tuple[int, bool]]:
    """Per target: attempts made so far, and whether one was delivered."""
    col = f"{item.kind}_id"
    cur.execute(
        f"""select channel, recipient, count(*), bool_or(status = 'sent')
              from raw.alert_deliveries where {col} = %s group by 1, 2""",
        (item.item_id,),
    )
    return {Target(ch, rcpt): (n, bool(sent)) for ch, rcpt, n, sent in cur.fetchall()}


def record_attempt(cur: Any, item: LedgerItem, target: Target, attempt_no: int, error: str | None) -> None:
    col = f"{item.kind}_id"
    cur.execute(
        f"""insert into raw.alert_deliveries ({col}, channel, recipient, attempt_no, status, error)
            values (%s, %s, %s, %s, %s, %s)""",
        (item.item_id, target.channel, target.recipient, attempt_no, "failed" if error else "sent", error),
    )


def settle(cur: Any, item: LedgerItem, status: str) -> None:
    """Mark an alert or digest `sent` (every target delivered) or `failed` (attempts used up)."""
    table, col = ("raw.alerts", "alert_id") if item.kind == "alert" else ("raw.alert_digests", "digest_id")
    cur.execute(
        f"""update {table} set status = %s, sent_at = case when %s = 'sent' then now() end
             where {col} = %s and status = 'pending'""",
        (status, status, item.item_id),
    )


def alerts_for_digest(cur: Any, as_of: date) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Per email recipient: the (non-stale) alerts raised for `as_of`."""
    cur.execute(
        """select t->>'recipient', a.alert_id, a.payload
             from raw.alerts a, jsonb_array_elements(a.recipients) t
            where a.as_of_date = %s and a.status <> 'stale' and t->>'channel' = 'email'
            order by 1, a.alert_id""",
        (as_of,),
    )
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for recipient, alert_id, payload in cur.fetchall():
        out.setdefault(recipient, []).append((alert_id, payload))
    return out


def record_digest(cur: Any, recipient: str, digest_date: date, alert_ids: list[int], payload: dict[str, Any]
                  ) -> int | None:
    cur.execute(
        """insert into raw.alert_digests (recipient, digest_date, alert_ids, payload)
           values (%s, %s, %s, %s)
           on conflict (recipient, digest_date) do nothing
           returning digest_id""",
        (recipient, digest_date, alert_ids, json.dumps(payload, ensure_ascii=False)),
    )
    row = cur.fetchone()
    return row[0] if row else None

"""`partnerops status`: commitment statuses as of a date, read from the dbt marts.

The statuses are computed by the dbt project (`marts.commitment_statuses`, one row per
commitment instance and as-of date); this module only reads and prints them, as a table
for people or as JSON or CSV for other programs. `refresh=True` runs `dbt build` for the
date first.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

import psycopg2.errors

from partnerops.db import connect
from partnerops.errors import UserError

__all__ = ["FORMATS", "StatusReport", "StatusRow", "fetch_statuses", "render", "summary_lines"]

FORMATS = ("table", "json", "csv")

_COLUMNS = (
    "agreement_id", "agreement_version", "brand_name", "obligor", "pillar", "service", "commitment_id",
    "instance_key", "kind", "status", "due_date", "breach_date", "delivered_at", "status_reason",
    "is_due_date_provisional", "is_disputed",
)
_TABLE_COLUMNS = ("agreement_id", "obligor", "pillar", "commitment_id", "instance_key", "kind", "status",
                  "due_date", "status_reason")


@dataclass(frozen=True)
class StatusRow:
    agreement_id: str
    agreement_version: int
    brand_name: str
    obligor: str
    pillar: str
    service: str
    commitment_id: str
    instance_key: str
    kind: str
    status: str
    due_date: date | None
    breach_date: date | None
    delivered_at: str | None
    status_reason: str | None
    is_due_date_provisional: bool
    is_disputed: bool


@dataclass(frozen=True)
class StatusReport:
    as_of: date
    rows: list[StatusRow]


def fetch_statuses(url: str, *, as_of: date | None = None, agreement_id: str | None = None,
                   include_superseded: bool = False) -> StatusReport:
    """The statuses as of `as_of` (default: the latest date computed), optionally of one agreement."""
    with connect(url) as conn, conn.cursor() as cur:
        try:
            cur.execute("select max(as_of_date) from marts.commitment_statuses")
        except psycopg2.errors.UndefinedTable:
            raise UserError("no commitment statuses yet: the dbt models have not been built in this database; "
                            "run `partnerops status --refresh` (or `make demo`)") from None
        latest = cur.fetchone()[0]
        wanted = as_of or latest
        if wanted is None:
            raise UserError("no commitment statuses yet; run `partnerops status --refresh`")
        cur.execute("select 1 from marts.commitment_statuses where as_of_date = %s limit 1", (wanted,))
        if cur.fetchone() is None:
            raise UserError(f"no statuses computed as of {wanted} (latest: {latest}); "
                            f"run `partnerops status --as-of {wanted} --refresh` to compute them")
        where = ["as_of_date = %s"]
        params: list[object] = [wanted]
        if agreement_id:
            where.append("agreement_id = %s")
            params.append(agreement_id)
        if not include_superseded:
            where.append("status <> 'superseded'")
        cur.execute(
            f"""select {', '.join(_COLUMNS)}
                  from marts.commitment_statuses
                 where {' and '.join(where)}
                 order by agreement_id, obligor desc, pillar, commitment_id, instance_key, agreement_version""",
            params,
        )
        rows = [StatusRow(*(r[:12] + (r[12].isoformat() if r[12] else None,) + r[13:])) for r in cur.fetchall()]
    if agreement_id and not rows:
        raise UserError(f"no commitments of agreement {agreement_id!r} as of {wanted}; check the agreement id")
    return StatusReport(as_of=wanted, rows=rows)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def render(report: StatusReport, fmt: str = "table") -> str:
    """The report as `table`, `json` or `csv` text."""
    if fmt == "json":
        return json.dumps({"as_of": report.as_of.isoformat(), "commitments": [asdict(r) for r in report.rows]},
                          default=str, ensure_ascii=False, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["as_of", *_COLUMNS])
        for r in report.rows:
            writer.writerow([report.as_of.isoformat(), *(_cell(getattr(r, c)) for c in _COLUMNS)])
        return buf.getvalue().rstrip("\n")
    if fmt != "table":
        raise UserError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    table = [list(_TABLE_COLUMNS)] + [[_cell(getattr(r, c)) for c in _TABLE_COLUMNS] for r in report.rows]
    widths = [min(max(len(row[i]) for row in table), 60) for i in range(len(_TABLE_COLUMNS))]
    lines = ["  ".join(cell[:60].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join([f"Commitment statuses as of {report.as_of}", *lines, "", *summary_lines(report.rows)])


def summary_lines(rows: Sequence[StatusRow]) -> list[str]:
    """Counts by status, then by side and by pillar, as short lines."""
    def fmt(counter: Counter[str]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

    lines = [f"{len(rows)} commitment instance(s): {fmt(Counter(r.status for r in rows))}"]
    for label, attr in (("side", "obligor"), ("pillar", "pillar")):
        for key in sorted({getattr(r, attr) for r in rows}):
            of_key = [r for r in rows if getattr(r, attr) == key]
            lines.append(f"  {label} {key}: {fmt(Counter(r.status for r in of_key))}")
    return lines


def demo_tracking(url: str, as_of: date | None = None) -> StatusReport:
    """The commitment-tracking step of `make demo`: dbt build, the status summary, the docs."""
    import time

    from partnerops import as_of as as_of_date
    from partnerops.calendar import ensure_calendar, holidays_version
    from partnerops.dbt import run_dbt
    from partnerops.settings import get_settings

    as_of = as_of or as_of_date.today()
    filled = ensure_calendar(url)
    if filled:
        print(f"business calendar filled for {', '.join(map(str, filled))} (holidays {holidays_version()})")
    started = time.monotonic()
    proc = run_dbt(["build", "--quiet"], as_of=as_of, url=url, capture=True, check=False)
    if proc.returncode != 0:
        print((proc.stdout + proc.stderr).strip()[-3000:])
        raise UserError("dbt build failed (output above); the statuses may be incomplete")
    print(f"dbt build as of {as_of}: models, snapshot and every test passed in {time.monotonic() - started:.1f} s")
    report = fetch_statuses(url, as_of=as_of)
    for line in summary_lines(report.rows):
        print(line)
    lacking = sum(r.status == "insufficient_data" for r in report.rows)
    print(f"insufficient_data: {lacking} of {len(report.rows)} instances "
          f"({lacking / max(len(report.rows), 1):.1%}): only where a feed is really missing or stale")
    print_attention_queue(url, as_of)
    run_dbt(["docs", "generate", "--quiet"], as_of=as_of, url=url, capture=True)
    index = get_settings().dbt_project_dir / "target" / "index.html"
    print(f"dbt docs for account managers: {index}")
    print(f"one agreement: partnerops status --agreement {report.rows[0].agreement_id}" if report.rows else "")
    return report


def print_attention_queue(url: str, as_of: date, top: int = 10) -> None:
    """The top of the Partnerships view's attention queue (at risk or breached, most urgent first)."""
    from partnerops.ui.queries import attention_queue

    with connect(url) as conn, conn.cursor() as cur:
        page = attention_queue(cur, as_of, limit=top)
    waiting = sum(r["awaiting_decision"] for r in page.rows)
    print(f"\nattention queue as of {as_of}: {page.total} instance(s) at risk or breached; the top {len(page.rows)} "
          f"({waiting} awaiting a decision):")
    for r in page.rows:
        days = r["days_to_due"]
        when = f"due in {days} d" if days is not None and days >= 0 else f"{-days} d late" if days is not None else ""
        print(f"  {r['status']:<9} {r['obligor']:<8} {r['agreement_id']} {r['commitment_id']} {r['instance_key']}"
              f"  {when}{'  awaiting decision' if r['awaiting_decision'] else ''}")
        if r["status_reason"]:
            print(f"            {r['status_reason'][:110]}")
    print("all of it, with links to decide: the Partnerships view's Attention queue (make serve)")

"""Retention of the raw order and shipment detail: old monthly partitions archived as compressed files.

The policy (docs/deploy.md, "Retention"): the raw detail of a business month is kept while any
threshold window that can read it is open, plus a margin (`PARTNEROPS_RETENTION_MARGIN_DAYS`,
default 90). A window is at most a quarter long, so a month is kept until its quarter's end plus
the margin. A closed window still takes late evidence for `late_arrival_days` after its end (dbt
var, default 45) and is frozen then, so a margin shorter than that counts as that allowance:
late evidence always finds its month's partition. After that, its partitions of
raw.orders and raw.shipments are written to `<data dir>/archive/<feed>/<partition>.csv.gz` (a
CSV with a header, as `COPY ... to stdout` writes it), detached and dropped, each in one
transaction. The daily roll-ups, the marts and the status history are kept forever: they do
not read the archived detail again (the roll-ups are never rebuilt by `--full-refresh`).

Restoring a month: create the partition again (`partnerops db upgrade` does for plausible
dates, or `create table raw.orders_p2026_01 partition of raw.orders for values from
('2026-01-01') to ('2026-02-01')`) and `\\copy raw.orders_p2026_01 from program 'gunzip -c
<file>' with (format csv, header)`; then delete its row from raw.evidence_archives.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from partnerops.db import connect
from partnerops.settings import Settings, get_settings

__all__ = ["Archived", "LATE_ARRIVAL_DAYS", "RETAINED_TABLES", "archive_evidence", "kept_until"]

log = logging.getLogger(__name__)

#: The raw tables whose detail is archived (the heavy feeds; the others are small and kept).
RETAINED_TABLES = ("raw.orders", "raw.shipments")
#: The dbt var late_arrival_days' default: a closed window is frozen this many days after its end.
LATE_ARRIVAL_DAYS = 45
_MONTHLY = re.compile(r"_p(\d{4})_(\d{2})$")


@dataclass(frozen=True)
class Archived:
    table: str
    partition: str
    month: date
    rows: int
    path: Path


def kept_until(month: date, margin_days: int, late_arrival_days: int = LATE_ARRIVAL_DAYS) -> date:
    """The last day a business month's raw detail is kept: its quarter's end + the margin.

    The margin is at least the late-arrival allowance, after which the quarter's windows are frozen.
    """
    quarter_end_month = (month.month - 1) // 3 * 3 + 3
    next_quarter = date(month.year + quarter_end_month // 12, quarter_end_month % 12 + 1, 1)
    return next_quarter - timedelta(days=1) + timedelta(days=max(margin_days, late_arrival_days))


def archive_evidence(database_url: str, *, today: date | None = None, settings: Settings | None = None,
                     dry_run: bool = False) -> list[Archived]:
    """Archive every monthly partition of RETAINED_TABLES past its retention; the ones archived (or due, if dry_run).

    Empty partitions are left alone.

    Safe to re-run: a partition is archived once (raw.evidence_archives records it) and an archive
    file is never overwritten.
    """
    settings = settings or get_settings()
    today = today or date.today()
    margin = settings.retention_margin_days
    if margin is None:
        return []
    done: list[Archived] = []
    with connect(database_url) as conn:
        for table in RETAINED_TABLES:
            for partition, month in _monthly_partitions(conn, table):
                if kept_until(month, margin) >= today or _is_empty(conn, partition):
                    continue  # an empty month (created ahead) costs nothing and may still get rows
                if dry_run:
                    done.append(Archived(table, partition, month, -1, Path()))
                    continue
                done.append(_archive(conn, table, partition, month, settings.data_dir / "archive"))
    return done


def _monthly_partitions(conn, table: str) -> list[tuple[str, date]]:
    with conn.cursor() as cur:
        cur.execute("""select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
                        where i.inhparent = %s::regclass order by 1""", (table,))
        names = [name for (name,) in cur.fetchall()]
    conn.rollback()
    out = []
    for name in names:
        m = _MONTHLY.search(name)
        if m:
            out.append((name, date(int(m.group(1)), int(m.group(2)), 1)))
    return out


def _is_empty(conn, partition: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(f"select not exists (select from raw.{partition})")
        empty = cur.fetchone()[0]
    conn.rollback()
    return empty


def _archive(conn, table: str, partition: str, month: date, root: Path) -> Archived:
    """Write the partition to a new .csv.gz file, then detach and drop it, in one transaction."""
    schema = table.split(".")[0]
    folder = root / table.split(".")[1]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{partition}.csv.gz"
    n = 1
    while path.exists():  # an earlier archive of a partition created again later: keep both
        n += 1
        path = folder / f"{partition}.{n}.csv.gz"
    partial = path.with_suffix(".partial")
    try:
        with conn.cursor() as cur:
            # nothing is loaded into the month while it is written out
            cur.execute(f"lock table {schema}.{partition} in share mode")
            with gzip.open(partial, "wb") as out:
                cur.copy_expert(f"copy {schema}.{partition} to stdout with (format csv, header)", out)
            with open(partial, "rb") as f:
                os.fsync(f.fileno())
            cur.execute(f"select count(*) from {schema}.{partition}")
            rows = cur.fetchone()[0]
            cur.execute(f"alter table {table} detach partition {schema}.{partition}")
            cur.execute(f"drop table {schema}.{partition}")
            cur.execute("""insert into raw.evidence_archives (table_name, partition_name, business_month, row_count,
                                                              file_path)
                           values (%s, %s, %s, %s, %s)""", (table, partition, month, rows, str(path)))
            partial.rename(path)
        conn.commit()
    except BaseException:
        conn.rollback()
        if path.exists() and not partial.exists():
            path.rename(partial)  # the partition is still there: the file is not an archive
        partial.unlink(missing_ok=True)
        raise
    log.info("%s: archived %s (%s rows) to %s", table, partition, f"{rows:,}", path)
    return Archived(table, partition, month, rows, path)

"""Loading evidence files into the raw tables, exactly once in effect.

`load_files()` is the one implementation behind `partnerops load` and the evidence DAGs. Each
file is loaded in its own transaction:

1. a row in `raw.evidence_loads` (the manifest) gives the load its `load_id`;
2. the rows are validated while they stream (`partnerops.evidence.validate`) into a temporary
   staging table with one `COPY`; bad lines go to `raw.evidence_quarantine` with their line
   number, field and reason;
3. rules across fields are checked on the staged rows, and breaking rows are quarantined too;
4. monthly partitions are created as needed, and the rows are merged into the raw table with
   `insert ... on conflict do nothing` on the natural key: a row already there (an earlier
   file, or earlier in this file) counts as a duplicate and changes nothing;
5. the manifest row gets the counts (in file = loaded + duplicate + quarantined), the business
   date range and the finish time, and the transaction commits.

The fast path, tried first, for the common case of a file whose rows are all new: under the same
lock and in the same transaction, after a `SAVEPOINT`, the rows are validated and given their
derived columns (business_date, arrived_at, load_id) in Python while they stream with `COPY`
straight into the raw table. A COPY ends before the first row of a month that has no partition
yet (the partition is created and the next COPY goes on), and every `COPY_SEGMENT_ROWS` rows.
The COPY's `where` is the staging path's SQL (the rules across fields, the business date), so a
row it skips shows in the row count; the primary key finds any duplicate. If a row is bad,
breaks a rule or is already there (`unique_violation`), or the same content was loaded before,
the transaction rolls back to the savepoint and the file takes the staging path above. The
manifest's `load_path` says which path loaded the file (`fast` or `merge`).

A failure anywhere (a lost connection included) rolls the whole file back, so a file is either
loaded completely or not at all, and loading it again is always safe. Files are loaded in
delivery order; a row's `arrived_at` is the delivery time of the first file that brought it.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import psycopg2
import psycopg2.extensions

from partnerops.db import connect
from partnerops.errors import UserError
from partnerops.evidence.feeds import (
    BUSINESS_TZ,
    FEED_NAMES,
    FEEDS,
    FILE_NAME_HELP,
    Feed,
    FeedFile,
    parse_feed_file_name,
)
from partnerops.evidence.validate import BadLine, FileRows
from partnerops.settings import FEED_TIMEZONE, Settings, get_settings

__all__ = ["FileLoad", "LoadReport", "find_feed_files", "load_delivered", "load_file", "load_files", "load_inbox",
           "pending_files", "prepare_session"]

log = logging.getLogger(__name__)

APPLICATION_NAME = "partnerops.evidence.load"
TEMP_BUFFERS = "256MB"  # staging stays in memory for files of a few million rows
_SHOWN_PROBLEMS = 5
# The fast path's COPYs end every so many rows: libpq reports a duplicate only when a COPY ends, so a
# file of redelivered rows leaves the fast path after one segment instead of after the whole file.
COPY_SEGMENT_ROWS = 100_000


@dataclass
class FileLoad:
    """What happened to one file."""

    file: str
    feed: str
    load_id: int
    status: str  # loaded | rejected
    load_path: str = "merge"  # fast (COPY straight into the raw table) | merge (staging + merge)
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    min_business_date: date | None = None
    max_business_date: date | None = None
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds: fast; stage (validate + COPY), check, merge
    problems: list[BadLine] = field(default_factory=list)  # the first few, for display


@dataclass
class LoadReport:
    files: list[FileLoad] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files not loaded, with the reason

    def totals(self, feed: str | None = None) -> dict[str, Any]:
        """Counts over the files (of one feed), and the business date range they loaded."""
        files = [f for f in self.files if feed is None or f.feed == feed]
        dates = [d for f in files for d in (f.min_business_date, f.max_business_date) if d]
        return {
            "files": len(files),
            "rows_in_file": sum(f.rows_in_file for f in files),
            "rows_loaded": sum(f.rows_loaded for f in files),
            "rows_duplicate": sum(f.rows_duplicate for f in files),
            "rows_quarantined": sum(f.rows_quarantined for f in files),
            "min_business_date": min(dates).isoformat() if dates else None,
            "max_business_date": max(dates).isoformat() if dates else None,
        }

    def summary(self) -> str:
        t = self.totals()
        rejected = sum(1 for f in self.files if f.status == "rejected")
        return (f"{t['files']} file(s){f' ({rejected} rejected)' if rejected else ''}: {t['rows_in_file']} rows, "
                f"{t['rows_loaded']} loaded, {t['rows_duplicate']} duplicate, {t['rows_quarantined']} quarantined"
                + (f"; {len(self.skipped)} skipped" if self.skipped else ""))


# -- finding files ------------------------------------------------------------------------------


def find_feed_files(paths: Iterable[Path | str]) -> tuple[list[FeedFile], list[str]]:
    """Feed files under `paths` in delivery order, and the files skipped (with why).

    A file named on the command line must follow the naming convention; in a folder, files that
    do not are skipped and reported.
    """
    found: dict[Path, FeedFile] = {}
    skipped: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            explicit = False
        elif path.is_file():
            candidates, explicit = [path], True
        else:
            raise UserError(f"{path}: no such file or folder")
        for candidate in candidates:
            ff = parse_feed_file_name(candidate)
            if ff is not None:
                found[candidate.resolve()] = FeedFile(candidate.resolve(), ff.feed, ff.delivery_date, ff.part,
                                                      ff.format)
            elif explicit or candidate.suffix in (".csv", ".jsonl"):
                skipped.append(f"{candidate}: not loaded: {FILE_NAME_HELP}")
    order = {name: i for i, name in enumerate(FEED_NAMES)}
    files = sorted(found.values(), key=lambda f: (f.delivery_date, order[f.feed.name], f.path.name))
    return files, skipped


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def pending_files(inbox: Path, feed: str, database_url: str, *, up_to: date | None = None) -> list[FeedFile]:
    """Files of `feed` in the inbox, delivered by `up_to`, not loaded yet.

    A delivered file is never rewritten (a correction comes as a new file), so a path already in
    the manifest is done; a new path is hashed, and skipped if the same content was loaded under
    another name.
    """
    if not inbox.is_dir():
        return []
    files, _ = find_feed_files([inbox])
    files = [f for f in files if f.feed.name == feed and (up_to is None or f.delivery_date <= up_to)]
    if not files:
        return []
    with connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("select distinct file_path from raw.evidence_loads where feed = %s and file_path = any(%s)",
                    (feed, [str(f.path) for f in files]))
        done = {path for (path,) in cur.fetchall()}
        files = [f for f in files if str(f.path) not in done]
        hashes = {f.path: file_hash(f.path) for f in files}
        cur.execute("select distinct content_hash from raw.evidence_loads where feed = %s and content_hash = any(%s)",
                    (feed, list(hashes.values())))
        loaded = {h for (h,) in cur.fetchall()}
    return [f for f in files if hashes[f.path] not in loaded]


# -- loading ------------------------------------------------------------------------------------


def load_files(
    paths: Iterable[Path | str],
    *,
    database_url: str,
    triggered_by: str = "cli",
    progress: Callable[[FileLoad], None] | None = None,
) -> LoadReport:
    """Load every feed file under `paths`, each in its own transaction, in delivery order."""
    files, skipped = find_feed_files(paths)
    report = LoadReport(skipped=skipped)
    if not files:
        return report
    with connect(database_url, autocommit=True) as conn:
        prepare_session(conn)
        for ff in files:
            result = load_file(conn, ff, triggered_by=triggered_by)
            report.files.append(result)
            if progress:
                progress(result)
    return report


def load_inbox(feed: str, *, database_url: str, inbox: Path, up_to: date | None = None,
               triggered_by: str = "airflow") -> dict[str, Any]:
    """Load the new files of one feed from the inbox; the totals, for an Asset event's extra."""
    files = pending_files(inbox, feed, database_url, up_to=up_to)
    report = load_files([f.path for f in files], database_url=database_url, triggered_by=triggered_by)
    totals = report.totals(feed)
    totals["feed"] = feed
    totals["load_ids"] = [f.load_id for f in report.files]
    return totals


def load_delivered(feed: str, *, triggered_by: str = "airflow", settings: Settings | None = None,
                   today: date | None = None) -> dict[str, Any]:
    """What an evidence DAG runs: load the files of `feed` delivered by today (in the feed time zone)."""
    from partnerops.db import database_url

    settings = settings or get_settings()
    today = today or datetime.now(BUSINESS_TZ).date()
    return load_inbox(feed, database_url=database_url(settings), inbox=settings.evidence_inbox / feed,
                      up_to=today, triggered_by=triggered_by)


def prepare_session(conn: psycopg2.extensions.connection) -> None:
    """Session settings for loading; call once on a new connection before `load_file`."""
    with conn.cursor() as cur:
        cur.execute(f"set application_name = '{APPLICATION_NAME}'")
        cur.execute(f"set temp_buffers = '{TEMP_BUFFERS}'")  # only possible before the first temp table
        cur.execute(f"set timezone = '{FEED_TIMEZONE}'")
        # A commit returns before its WAL reaches the disk. Safe here: a file's rows and its manifest
        # row commit together, so if the server crashes in that moment both are lost, the file counts
        # as not loaded, and loading it again (the DAGs do) brings it in once.
        cur.execute("set synchronous_commit = off")
        cur.execute("set jit = off")  # compiling the few staging queries costs more than it saves


def load_file(conn: psycopg2.extensions.connection, ff: FeedFile, *, triggered_by: str = "cli") -> FileLoad:
    """Load one file in one transaction on `conn` (an autocommit connection); see the module docstring."""
    started = time.monotonic()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            result = _load(cur, ff, triggered_by)
        conn.commit()
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        _rollback(conn)
        raise UserError(
            f"{ff.path}: lost the database connection while loading ({_one_line(exc)}). "
            "Nothing of this file was kept; load it again when the database is back."
        ) from None
    except psycopg2.DataError as exc:
        _rollback(conn)
        raise UserError(
            f"{ff.path}: the database refused a value that the format checks accepted: {_one_line(exc)}. "
            "Fix or remove that row and load the file again, and please report it as a bug."
        ) from None
    except BaseException:
        _rollback(conn)
        raise
    finally:
        if not conn.closed:
            conn.autocommit = True
    result.seconds = time.monotonic() - started
    log.info("%s: %s, %d rows: %d loaded, %d duplicate, %d quarantined (%.2f s)", ff.path, result.status,
             result.rows_in_file, result.rows_loaded, result.rows_duplicate, result.rows_quarantined,
             result.seconds)
    return result


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _rollback(conn: psycopg2.extensions.connection) -> None:
    if not conn.closed:
        try:
            conn.rollback()
        except psycopg2.Error:
            pass


def _lock_key(feed: Feed) -> int:
    return 7_002_000 + zlib.crc32(feed.name.encode()) % 1000  # pg advisory lock: one load per feed


def _load(cur, ff: FeedFile, triggered_by: str) -> FileLoad:
    cur.execute("select pg_advisory_xact_lock(%s)", (_lock_key(ff.feed),))
    cur.execute(
        """insert into raw.evidence_loads (feed, file_path, content_hash, arrived_at, triggered_by, status)
           values (%s, %s, '', %s, %s, 'loaded') returning load_id""",
        (ff.feed.name, str(ff.path), ff.arrived_at, triggered_by),
    )
    result = FileLoad(file=str(ff.path), feed=ff.feed.name, load_id=cur.fetchone()[0], status="loaded")
    rows = _fast_load(cur, ff, result)
    if rows is None:
        rows = _staged_load(cur, ff, result)
    result.rows_in_file = rows.rows_in_file
    result.status = "rejected" if rows.rejected else "loaded"
    cur.execute(
        """update raw.evidence_loads
              set content_hash = %s, rows_in_file = %s, rows_loaded = %s, rows_duplicate = %s,
                  rows_quarantined = %s, min_business_date = %s, max_business_date = %s,
                  finished_at = clock_timestamp(), status = %s, load_path = %s
            where load_id = %s""",
        (rows.content_hash, result.rows_in_file, result.rows_loaded, result.rows_duplicate,
         result.rows_quarantined, result.min_business_date, result.max_business_date, result.status,
         result.load_path, result.load_id),
    )
    return result


def _staged_load(cur, ff: FeedFile, result: FileLoad) -> FileRows:
    """The staging path: validate into staging, check the rules, merge; sets the counts in `result`."""
    staging = f"staging_{ff.feed.name}"
    cur.execute(_staging_ddl(ff.feed, staging))
    clock = time.perf_counter()
    rows = _stage(cur, ff, staging, result)
    result.phases["stage"], clock = time.perf_counter() - clock, time.perf_counter()
    staged, rule_bad = _check(cur, ff, staging, result)
    result.phases["check"], clock = time.perf_counter() - clock, time.perf_counter()
    result.rows_loaded = _merge(cur, ff, staging, result)
    result.phases["merge"] = time.perf_counter() - clock
    result.rows_quarantined = rows.rows_bad + rule_bad
    result.rows_duplicate = staged - result.rows_loaded
    result.load_path = "merge"
    return rows


def _fast_load(cur, ff: FeedFile, result: FileLoad) -> FileRows | None:
    """The fast path (see the module docstring); None, with nothing of it kept, when the file must be staged."""
    clock = time.perf_counter()
    cur.execute("savepoint fast_path")
    try:
        rows = _copy_direct(cur, ff, result)
    except psycopg2.IntegrityError:  # a unique_violation: a row already there, or repeated in the file
        rows = None
    if rows is None or rows.rejected or _content_loaded(cur, ff.feed, rows.content_hash, result.load_id):
        cur.execute("rollback to savepoint fast_path")
        result.rows_loaded, result.min_business_date, result.max_business_date = 0, None, None
        rows = None
    else:
        cur.execute("release savepoint fast_path")
        result.load_path = "fast"
    result.phases["fast"] = time.perf_counter() - clock
    return rows


def _copy_direct(cur, ff: FeedFile, result: FileLoad) -> FileRows | None:
    """COPY the file's rows straight into the raw table; None if a row is bad or breaks a rule.

    The COPY's `where` is the staging path's own SQL: it skips a row that breaks a rule across fields
    (or whose business_date, derived in Python, differs from the SQL one), so a row count short of
    the file's says the file must be staged.
    """
    feed, bad = ff.feed, []
    with _open(ff) as handle:
        rows = FileRows(feed, handle, ff.format, bad.append)
        lines = rows.copy_lines()
        first = next(lines, None)  # reads the header, which gives the column order
        table_rows = _Rows(chain([first] if first else [], lines), feed, rows.staging_columns, ff.arrived_at,
                         result.load_id, bad)
        copy = (f"copy {feed.table} ({', '.join(rows.staging_columns)}, business_date, arrived_at, load_id) "
                f"from stdin with (format csv) where business_date = {_business_date_sql(feed)} "
                f"and not ({_bad_any(feed)})")
        while table_rows.pending is not None:
            month = table_rows.pending[1]
            if feed.partitioned:
                first_day = date.fromisoformat(month.decode() + "-01")
                _ensure_partitions(cur, feed, first_day, first_day)
            table_rows.months.add(month)
            cur.copy_expert(copy, _Stream(table_rows.stream()), size=1 << 20)
            result.rows_loaded += cur.rowcount
    if bad or result.rows_loaded != rows.rows_in_file:
        return None
    if table_rows.days:
        result.min_business_date = date.fromisoformat(min(table_rows.days).decode())
        result.max_business_date = date.fromisoformat(max(table_rows.days).decode())
    return rows


def _content_loaded(cur, feed: Feed, content_hash: str, load_id: int) -> bool:
    cur.execute("""select exists (select from raw.evidence_loads
                                   where feed = %s and content_hash = %s and load_id <> %s)""",
                (feed.name, content_hash, load_id))
    return cur.fetchone()[0]


def _open(ff: FeedFile) -> BinaryIO:
    try:
        return ff.path.open("rb")
    except OSError as exc:
        raise UserError(f"{ff.path}: cannot read the file: {exc.strerror}") from None


def _stage(cur, ff: FeedFile, staging: str, result: FileLoad) -> FileRows:
    """Validate the file while it streams into the staging table with one COPY; quarantine bad lines."""
    with _Quarantine(result.load_id, str(ff.path), result.problems) as quarantine:
        with _open(ff) as handle:
            rows = FileRows(ff.feed, handle, ff.format, quarantine.add)
            stream = _Stream(rows.copy_lines())
            stream.prime()  # reads the header, which gives the staging columns
            cur.copy_expert(
                f"copy {staging} (line_no, {', '.join(rows.staging_columns)}) from stdin with (format csv)",
                stream, size=1 << 20,
            )
        quarantine.flush(cur)
    return rows


def _check(cur, ff: FeedFile, staging: str, result: FileLoad) -> tuple[int, int]:
    """Quarantine staged rows that break a rule across fields; the rows left and the rows moved."""
    staged, result.min_business_date, result.max_business_date, rule_bad = _staged_stats(cur, ff.feed, staging)
    if rule_bad:
        _quarantine_rule_breakers(cur, ff.feed, staging, result.load_id, str(ff.path))
        staged, result.min_business_date, result.max_business_date, _ = _staged_stats(cur, ff.feed, staging)
    return staged, rule_bad


def _merge(cur, ff: FeedFile, staging: str, result: FileLoad) -> int:
    """Insert the staged rows whose natural key is new; how many were inserted."""
    feed = ff.feed
    if feed.partitioned and result.min_business_date and result.max_business_date:
        _ensure_partitions(cur, feed, result.min_business_date, result.max_business_date)
    columns = ", ".join(feed.column_names)
    cur.execute(
        f"""insert into {feed.table} ({columns}, business_date, arrived_at, load_id)
            select {columns}, business_date, %s, %s from {staging}
            on conflict do nothing""",
        (ff.arrived_at, result.load_id),
    )
    return cur.rowcount


def _staging_ddl(feed: Feed, staging: str) -> str:
    columns = ",\n".join(f"    {c.name} {c.sql_type}" for c in feed.columns)
    return (f"create temp table if not exists {staging} (\n    line_no integer not null,\n{columns},\n"
            f"    business_date date generated always as {_business_date_sql(feed)} stored\n"
            ") on commit delete rows")


def _business_date_sql(feed: Feed) -> str:
    return f"((({feed.business_at_sql}) at time zone '{FEED_TIMEZONE}')::date)"


def _bad_any(feed: Feed) -> str:
    return " or ".join(f"coalesce({r.bad}, false)" for r in feed.rules) or "false"


def _staged_stats(cur, feed: Feed, staging: str) -> tuple[int, date | None, date | None, int]:
    """Rows staged, their business date range, and how many break a rule across fields: one pass."""
    cur.execute(f"""select count(*), min(business_date), max(business_date), count(*) filter (where {_bad_any(feed)})
                      from {staging}""")
    return cur.fetchone()


def _quarantine_rule_breakers(cur, feed: Feed, staging: str, load_id: int, file: str) -> None:
    """Move the staged rows that break a rule across fields to the quarantine, with the first rule broken."""
    field_case = " ".join(f"when coalesce({r.bad}, false) then '{r.field}'" for r in feed.rules)
    reason_case = " ".join(f"when coalesce({r.bad}, false) then '{r.reason}'" for r in feed.rules)
    as_text = ", ".join(f"{c}::text" for c in feed.column_names)
    cur.execute(
        f"""with bad as (delete from {staging} where {_bad_any(feed)} returning *)
            insert into raw.evidence_quarantine (load_id, file_path, line_no, field, reason, raw_line)
            select %s, %s, line_no, case {field_case} end, case {reason_case} end, concat_ws(',', {as_text})
              from bad""",
        (load_id, file),
    )


def _months(first: date, last: date) -> Iterator[date]:
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month.replace(day=28) + (date.resolution * 4)).replace(day=1)


def _ensure_partitions(cur, feed: Feed, first: date, last: date) -> None:
    """One partition per business month; created once, in the loading transaction."""
    for month in _months(first, last):
        name = f"{feed.table}_p{month:%Y_%m}"
        cur.execute("select to_regclass(%s)", (name,))
        if cur.fetchone()[0] is None:
            upper = (month.replace(day=28) + (date.resolution * 4)).replace(day=1)
            cur.execute(f"create table {name} partition of {feed.table} for values from (%s) to (%s)",
                        (month, upper))


_FIXED_OFFSET_SINCE = b"1992"  # the feed time zone (China) has been UTC+8 all year since 1992 (summer time 1986-1991)


def _shanghai_date(ts: bytes) -> bytes:
    """The feed-time-zone date of a valid ISO timestamp (the COPY's `where` checks it against `_business_date_sql`)."""
    if ts.endswith(b"+08:00") and ts[:4] >= _FIXED_OFFSET_SINCE:
        return ts[:10]
    return datetime.fromisoformat(ts.decode()).astimezone(BUSINESS_TZ).date().isoformat().encode()


def _quoted_fields(body: bytes) -> list[bytes]:
    """The fields of a line of the COPY stream with quoted fields (empty for null)."""
    return [f.encode() for f in next(csv.reader([body.decode()]))]


class _Rows:
    """The lines of the COPY stream made into rows of the raw table (with business_date, arrived_at and
    load_id), cut into COPY streams so that every month has its partition before its first row is sent.
    """

    def __init__(self, lines: Iterator[bytes], feed: Feed, columns: tuple[str, ...], arrived_at: datetime,
                 load_id: int, bad: list[BadLine]):
        self._lines = lines
        self._business_at = [columns.index(name) for name in feed.business_at]
        self._suffix = f",{arrived_at.isoformat()},{load_id}\n".encode()
        self._bad = bad
        self.days: set[bytes] = set()
        self.months: set[bytes] = set()  # months with a partition
        self.pending: tuple[bytes, bytes] | None = next(self._derived(), None)  # (row, month) awaiting a COPY

    def _derived(self) -> Iterator[tuple[bytes, bytes]]:
        """(row, business month) per line, until a line was bad."""
        first, *rest = self._business_at
        suffix, days, bad = self._suffix, self.days, self._bad
        for line in self._lines:
            if bad:
                return
            body = line[line.index(b",") + 1:-1]  # without the line number and the line end
            fields = body.split(b",") if b'"' not in body else _quoted_fields(body)
            day = _shanghai_date(fields[first] or next(fields[i] for i in rest if fields[i]))
            days.add(day)
            yield body + b"," + day + suffix, day[:7]

    def stream(self) -> Iterator[bytes]:
        """The rows from `pending` up to the first one of a month without a partition, or of the next segment
        (`COPY_SEGMENT_ROWS`): that row is the next `pending`."""
        months, pending = self.months, self.pending
        if pending is None:
            return
        yield pending[0]
        left = COPY_SEGMENT_ROWS
        for row, month in self._derived():
            left -= 1
            if not left or month not in months:
                self.pending = (row, month)
                return
            yield row
        self.pending = None


class _Stream:
    """A file-like object over an iterator of byte lines, for `copy_expert`."""

    def __init__(self, lines: Iterator[bytes]):
        self._lines = lines
        self._first: list[bytes] = []

    def prime(self) -> None:
        self._first = [next(self._lines, b"")]

    def read(self, size: int = -1) -> bytes:
        chunk = self._first
        self._first = []
        budget = size if size > 0 else 1 << 20
        total = sum(len(b) for b in chunk)
        for line in self._lines:
            chunk.append(line)
            total += len(line)
            if total >= budget:
                break
        return b"".join(chunk)

    def readline(self, size: int = -1) -> bytes:  # pragma: no cover - COPY FROM uses read()
        return self.read(size)


class _Quarantine:
    """Bad lines, spooled to a temporary file and copied into raw.evidence_quarantine at once."""

    def __init__(self, load_id: int, file: str, shown: list[BadLine]):
        self.load_id = load_id
        self.file = file
        self.shown = shown
        self.count = 0
        self._spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8", newline="")
        self._writer = csv.writer(self._spool)

    def __enter__(self) -> _Quarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self._spool.close()

    def add(self, bad: BadLine) -> None:
        self.count += 1
        if len(self.shown) < _SHOWN_PROBLEMS:
            self.shown.append(bad)
        self._writer.writerow([self.load_id, self.file, bad.line_no, bad.field or "\\N", bad.reason, bad.raw_line])

    def flush(self, cur) -> None:
        if not self.count:
            return
        self._spool.seek(0)
        cur.copy_expert(
            "copy raw.evidence_quarantine (load_id, file_path, line_no, field, reason, raw_line) "
            "from stdin with (format csv, null '\\N')",
            self._spool,
        )


def report_as_dict(report: LoadReport) -> dict[str, Any]:
    """A JSON-friendly view of a report (for logs and XCom)."""
    return {"files": [{k: v for k, v in asdict(f).items() if k != "problems"} for f in report.files],
            "skipped": report.skipped, "totals": report.totals()}


FEED_TABLES = {name: feed.table for name, feed in FEEDS.items()}

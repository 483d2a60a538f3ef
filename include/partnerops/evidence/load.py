"""Loading evidence files into the raw tables, exactly once in effect.

`load_files()` is the one implementation behind `partnerops load` and the evidence DAGs. Each
file is loaded in its own transaction:

0. before the transaction, the file is checked to be a regular, readable file of bounded size
   (a named pipe, a device, a folder or an unreadable file is reported and skipped), and the
   monthly partitions of the plausible date window are created, each in its own short
   transaction (`ensure_partitions`), so no load creates one next to the DEFAULT partition;
1. a row in `raw.evidence_loads` (the manifest) gives the load its `load_id`;
2. the rows are validated while they stream (`partnerops.evidence.validate`) into a temporary
   staging table with `COPY`s of at most `COPY_SEGMENT_ROWS` rows; bad lines go to
   `raw.evidence_quarantine` with their line number, field and reason. If the database refuses
   a segment the Python checks passed, that segment is copied again row by row, each under a
   savepoint, and the refused rows are quarantined with the database's reason;
3. rules across fields, and the plausible date window (`plausible_window`), are checked on the
   staged rows, and breaking rows are quarantined too;
4. the rows are merged into the raw table with `insert ... on conflict do nothing` on the
   natural key: a row already there (an earlier file, or earlier in this file) counts as a
   duplicate and changes nothing. A row the database refuses there is quarantined the same way;
5. lines of this content that an earlier load already quarantined are not stored again: the
   load counts them as quarantined and reports them as already quarantined;
6. the manifest row gets the counts (in file = loaded + duplicate + quarantined), the business
   date range and the finish time, and the transaction commits.

The fast path, tried first, for the common case of a file whose rows are all new: under the same
lock and in the same transaction, after a `SAVEPOINT`, the rows are validated and given their
derived columns (business_date, arrived_at, load_id) in Python while they stream with `COPY`
straight into the raw table, in COPYs of at most `COPY_SEGMENT_ROWS` rows. The COPY's `where`
is the staging path's SQL (the rules across fields, the date window, the business date), so a
row it skips shows in the row count; the primary key finds any duplicate. If a row is bad,
breaks a rule or is already there (`unique_violation`), the database refuses a row for any
other reason, or the same content was loaded before, the transaction rolls back to the
savepoint and the file takes the staging path above. The manifest's `load_path` says which
path loaded the file (`fast` or `merge`).

A lost connection rolls the whole file back and stops the batch, so a file is either loaded
completely or not at all, and loading it again is always safe. Any other failure rolls that
file back, is reported for it, and the next file is loaded. Files are loaded in delivery
order; a row's `arrived_at` is the delivery time of the first file that brought it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from itertools import chain, islice
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
    RowRule,
    parse_feed_file_name,
)
from partnerops.evidence.validate import MAX_QUOTED, BadLine, FileRows
from partnerops.files import UnreadableFile, open_input
from partnerops.settings import FEED_TIMEZONE, Settings, get_settings

__all__ = ["FileLoad", "LoadReport", "Window", "ensure_partitions", "find_feed_files", "load_delivered", "load_file",
           "load_files", "load_inbox", "pending_files", "plausible_window", "prepare_partitions", "prepare_session",
           "raise_for_not_loaded"]

log = logging.getLogger(__name__)

APPLICATION_NAME = "partnerops.evidence.load"
TEMP_BUFFERS = "256MB"  # staging stays in memory for files of a few million rows
SHOWN_PROBLEMS = 20  # quarantined rows listed per file; the rest are counted, with the query that lists them
# COPYs end every so many rows: libpq reports a duplicate only when a COPY ends, so a file of redelivered
# rows leaves the fast path after one segment instead of after the whole file; and a segment the database
# refuses is copied again row by row.
COPY_SEGMENT_ROWS = 100_000
MAX_FEED_FILE_BYTES = 16 << 30  # a feed file larger than this is reported, not read


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
    problems: list[BadLine] = field(default_factory=list)  # the first SHOWN_PROBLEMS quarantined rows
    message: str | None = None  # what is wrong with the file as a whole (empty, no header)
    rows_already_quarantined: int = 0  # quarantined rows an earlier load of the same content stored
    quarantine_load_ids: list[int] = field(default_factory=list)  # the loads whose quarantine holds the rows

    @property
    def quarantine_query(self) -> str:
        """The SQL that lists every quarantined row of this file."""
        ids = ", ".join(map(str, self.quarantine_load_ids or [self.load_id]))
        return (f"select line_no, field, reason, raw_line from raw.evidence_quarantine "
                f"where load_id in ({ids}) order by line_no")


@dataclass
class LoadReport:
    files: list[FileLoad] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # paths not loaded, each "<path>: not loaded: <reason>"

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
    do not are skipped and reported. A path named like a feed file that is not a regular file (a
    folder, a named pipe, a device, a link to one) is skipped and reported, never opened, and so
    is a path that does not exist; the other paths are still found.
    """
    found: dict[Path, FeedFile] = {}
    skipped: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if not p.name.startswith("."))
            explicit = False
            if parse_feed_file_name(path) is not None:
                skipped.append(f"{path}: not loaded: {_FOLDER_NAMED_LIKE_A_FILE}")
        else:
            candidates, explicit = [path], True
        for candidate in candidates:
            ff = parse_feed_file_name(candidate)
            if candidate.is_dir():
                if ff is not None and not explicit:
                    skipped.append(f"{candidate}: not loaded: {_FOLDER_NAMED_LIKE_A_FILE}")
                continue
            if ff is None:
                if explicit and not os.path.lexists(candidate):
                    skipped.append(f"{candidate}: not loaded: no such file or folder")
                elif explicit or candidate.suffix in (".csv", ".jsonl"):
                    skipped.append(f"{candidate}: not loaded: {FILE_NAME_HELP}")
                continue
            problem = _not_a_file(candidate)
            if problem:
                skipped.append(f"{candidate}: not loaded: {problem}")
                continue
            found[candidate.resolve()] = FeedFile(candidate.resolve(), ff.feed, ff.delivery_date, ff.part, ff.format)
    order = {name: i for i, name in enumerate(FEED_NAMES)}
    files = sorted(found.values(), key=lambda f: (f.delivery_date, order[f.feed.name], f.path.name))
    return files, skipped


_FOLDER_NAMED_LIKE_A_FILE = ("is a folder named like a feed file; a feed file is a regular file (the files inside "
                             "the folder are looked at on their own)")


def _not_a_file(path: Path) -> str | None:
    """Why `path` cannot be loaded as a file (what it is), or None for a regular file; reads nothing."""
    try:
        open_input(path, MAX_FEED_FILE_BYTES).close()
    except UnreadableFile as exc:
        return str(exc)
    return None


def file_hash(path: Path) -> str | None:
    """The content hash of a file, or None if it cannot be read (it is reported when loaded)."""
    digest = hashlib.sha256()
    try:
        with open_input(path, MAX_FEED_FILE_BYTES) as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except (UnreadableFile, OSError):
        return None
    return digest.hexdigest()


def pending_files(inbox: Path, feed: str, database_url: str, *, up_to: date | None = None,
                  skipped: list[str] | None = None) -> list[FeedFile]:
    """Files of `feed` in the inbox, delivered by `up_to`, not loaded yet.

    A delivered file is never rewritten (a correction comes as a new file), so a path already in
    the manifest is done; a new path is hashed, and skipped if the same rows were loaded under
    another name. A file with no rows is never such a re-delivery: a quiet feed sends the same
    empty file every day, and each one is a delivery (the feed's freshness). Paths that cannot
    be loaded (not regular files) are added to `skipped`, with why.
    """
    if not inbox.is_dir():
        return []
    files, not_files = find_feed_files([inbox])
    if skipped is not None:
        skipped += not_files
    files = [f for f in files if f.feed.name == feed and (up_to is None or f.delivery_date <= up_to)]
    if not files:
        return []
    with connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("select distinct file_path from raw.evidence_loads where feed = %s and file_path = any(%s)",
                    (feed, [str(f.path) for f in files]))
        done = {path for (path,) in cur.fetchall()}
        files = [f for f in files if str(f.path) not in done]
        hashes = {f.path: file_hash(f.path) for f in files}
        cur.execute("""select distinct content_hash from raw.evidence_loads
                        where feed = %s and content_hash = any(%s) and rows_in_file > 0""",
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
    settings: Settings | None = None,
) -> LoadReport:
    """Load every feed file under `paths`, each in its own transaction, in delivery order.

    A file that cannot be loaded is reported in `skipped` and the next one is loaded; only a lost
    connection to the database stops the batch (a `UserError`).
    """
    settings = settings or get_settings()
    files, skipped = find_feed_files(paths)
    report = LoadReport(skipped=skipped)
    if not files:
        return report
    with connect(database_url, autocommit=True) as conn:
        prepare_session(conn)
        for ff in files:
            try:
                with conn.cursor() as cur:
                    window = plausible_window(cur, ff.delivery_date, settings.evidence_date_margin_days)
                    if ff.feed.partitioned:
                        ensure_partitions(cur, ff.feed, window)
                result = load_file(conn, ff, triggered_by=triggered_by, window=window)
            except UserError as exc:
                if conn.closed:
                    raise
                report.skipped.append(f"{ff.path}: not loaded: {exc}")
                log.warning("%s: not loaded: %s", ff.path, exc)
                continue
            report.files.append(result)
            if progress:
                progress(result)
        analyze_after_load(conn, report)
    return report


#: A batch that loads at least this many rows into a partitioned table analyzes it afterwards.
ANALYZE_AFTER_ROWS = 100_000


def analyze_after_load(conn, report: LoadReport) -> list[str]:
    """After a batch: summarize the new BRIN ranges of the raw tables it loaded, and ANALYZE the big loads.

    The roll-ups find a day's rows through the BRIN index on `arrived_at`. PostgreSQL summarizes a
    BRIN index's new page ranges only when VACUUM gets to the table, and a range not yet summarized
    matches every query: until then a day's roll-up read the whole month. Summarizing the new
    ranges costs a read of the pages just written.

    Autovacuum analyzes the monthly partitions by itself, but never their parent, whose statistics
    the planner uses for every query on the whole table (the daily roll-ups, the windows): without
    them it guesses, and after a large load guesses badly. Tables that took ANALYZE_AFTER_ROWS rows
    or more are analyzed; the ones analyzed are returned.
    """
    loaded: dict[str, int] = {}
    for f in report.files:
        feed = FEEDS.get(f.feed)
        if feed is not None and feed.partitioned:
            loaded[feed.table] = loaded.get(feed.table, 0) + f.rows_loaded
    analyzed = [table for table, rows in sorted(loaded.items()) if rows >= ANALYZE_AFTER_ROWS]
    with conn.cursor() as cur:
        for table in sorted(t for t, rows in loaded.items() if rows):
            summarize_brin_indexes(cur, table)
        for table in analyzed:
            started = time.monotonic()
            cur.execute(f"analyze {table}")
            log.info("%s: analyzed after %s rows loaded (%.1f s)", table, f"{loaded[table]:,}",
                     time.monotonic() - started)
    return analyzed


def summarize_brin_indexes(cur, table: str) -> int:
    """Summarize the new page ranges of every BRIN index on `table`'s partitions; the ranges summarized.

    Only an index's owner may; the loader asks the migrator's function (migration 0010).
    """
    cur.execute("select raw.summarize_new_brin_ranges(%s::regclass)", (table,))
    return cur.fetchone()[0]


def load_inbox(feed: str, *, database_url: str, inbox: Path, up_to: date | None = None,
               triggered_by: str = "airflow") -> dict[str, Any]:
    """Load the new files of one feed from the inbox; the totals, for an Asset event's extra."""
    not_files: list[str] = []
    files = pending_files(inbox, feed, database_url, up_to=up_to, skipped=not_files)
    report = load_files([f.path for f in files], database_url=database_url, triggered_by=triggered_by)
    report.skipped[:0] = not_files
    totals = report.totals(feed)
    totals["feed"] = feed
    totals["load_ids"] = [f.load_id for f in report.files]
    totals["not_loaded"] = report.skipped
    for line in report.skipped:
        log.warning("%s", line)
    return totals


def load_delivered(feed: str, *, triggered_by: str = "airflow", settings: Settings | None = None,
                   today: date | None = None, conn_id: str | None = None) -> dict[str, Any]:
    """What an evidence DAG runs: load the files of `feed` delivered by today (in the feed time zone).

    The database is the Airflow connection `conn_id` in a task (default `partnerops_db`).
    """
    from partnerops import as_of, state
    from partnerops.db import database_url

    settings = settings or get_settings()
    today = today or as_of.today()
    state.pull(f"{state.EVIDENCE_INBOX}/{feed}", settings)  # files delivered to an object-storage base
    return load_inbox(feed, database_url=database_url(settings, conn_id=conn_id), inbox=settings.evidence_inbox / feed,
                      up_to=today, triggered_by=triggered_by)


def raise_for_not_loaded(totals: dict[str, Any]) -> None:
    """Fail when the inbox held paths that could not be loaded (the good files are in already).

    An evidence DAG runs this after its load, so that a folder, named pipe or unreadable file in
    the inbox fails the run and reaches the on-call address, instead of only a log line.
    """
    not_loaded = totals.get("not_loaded") or []
    if not_loaded:
        raise UserError(f"{len(not_loaded)} path(s) in the {totals.get('feed', 'evidence')} inbox could not be "
                        "loaded; fix or remove them (the other files were loaded):\n" + "\n".join(not_loaded))


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


# -- the plausible date window and the partitions ahead of it -----------------------------------


@dataclass(frozen=True)
class Window:
    """The dates evidence may plausibly carry; rows dated outside are quarantined."""

    first: date
    last: date
    basis: str  # how the window was set, for the reason of a quarantined row

    def months(self) -> Iterator[date]:
        return _months(self.first, self.last)


def plausible_window(cur, delivery_date: date, margin_days: int) -> Window:
    """The agreements' terms (all versions taken in) widened by `margin_days` on both sides; without
    any agreement, the delivery date widened by `margin_days`."""
    margin = timedelta(days=margin_days)
    cur.execute("select min(term_start), max(term_end) from raw.agreement_versions")
    start, end = cur.fetchone()
    if start is None:
        return Window(delivery_date - margin, delivery_date + margin,
                      f"the delivery date {delivery_date} \u00b1 {margin_days} days, as no agreement is taken in")
    return Window(start - margin, end + margin, f"the agreements' terms {start}..{end} \u00b1 {margin_days} days")


def ensure_partitions(cur, feed: Feed, window: Window) -> list[str]:
    """Create the missing monthly partitions of `feed` for `window`; the names created.

    Run on an autocommit connection, outside any load: each partition is created in its own
    short transaction, and one that cannot be (rows for its month already sit in the DEFAULT
    partition, from before the window existed) is left to the DEFAULT partition with a warning.
    """
    cur.execute("""select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
                    where i.inhparent = %s::regclass""", (feed.table,))
    existing = {name for (name,) in cur.fetchall()}
    # a month archived by retention (partnerops.evidence.retention) is not created again
    cur.execute("select to_regclass('raw.evidence_archives') is not null")
    if cur.fetchone()[0]:
        cur.execute("select partition_name from raw.evidence_archives where table_name = %s", (feed.table,))
        existing |= {name for (name,) in cur.fetchall()}
    schema, table = feed.table.split(".")
    created = []
    for month in window.months():
        name = f"{table}_p{month:%Y_%m}"
        if name in existing:
            continue
        try:
            # the migrator's function (migration 0008): the loader's own login may not create tables
            cur.execute("select raw.create_monthly_partition(%s::regclass, %s)", (feed.table, month))
            created.append(name)
        except psycopg2.Error as exc:
            if cur.connection.closed:
                raise
            log.warning("%s.%s: partition not created, its rows stay in the DEFAULT partition: %s", schema, name,
                        _one_line(exc))
    if created:
        log.info("%s: created partitions %s", feed.table, ", ".join(created))
    return created


def prepare_partitions(database_url: str, settings: Settings | None = None) -> list[str]:
    """The partitions for the agreements' window, ahead of any load (what `partnerops db upgrade` runs)."""
    settings = settings or get_settings()
    created: list[str] = []
    with connect(database_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.agreement_versions")
        if not cur.fetchone()[0]:
            return created  # the window follows the files' delivery dates; the loads create it
        window = plausible_window(cur, date.today(), settings.evidence_date_margin_days)
        for feed in FEEDS.values():
            if feed.partitioned:
                created += ensure_partitions(cur, feed, window)
    return created


def _window_rules(feed: Feed, window: Window) -> tuple[RowRule, ...]:
    """Rules that put every date and timestamp of a row inside `window`."""
    rules = []
    lo, hi = window.first.isoformat(), window.last.isoformat()
    starts = datetime.combine(window.first, clock_time(0), BUSINESS_TZ).isoformat()
    ends = datetime.combine(window.last + timedelta(days=1), clock_time(0), BUSINESS_TZ).isoformat()
    for column in feed.columns:
        if column.kind == "timestamp":
            bad = f"({column.name} < '{starts}'::timestamptz or {column.name} >= '{ends}'::timestamptz)"
        elif column.kind == "date":
            bad = f"({column.name} < '{lo}'::date or {column.name} > '{hi}'::date)"
        else:
            continue
        explain = (f", outside the plausible dates {lo}..{hi} ({window.basis}); check the date, "
                   "or see docs/evidence-formats.md")
        reason = f"'dated ' || left({column.name}::text, 10) || {_sql_text(explain)}"
        rules.append(RowRule(column.name, bad, reason_sql=reason))
    return tuple(rules)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rules(feed: Feed, window: Window | None) -> tuple[RowRule, ...]:
    return (_window_rules(feed, window) if window else ()) + feed.rules


# -- loading one file -----------------------------------------------------------------------------


def load_file(conn: psycopg2.extensions.connection, ff: FeedFile, *, triggered_by: str = "cli",
              window: Window | None = None) -> FileLoad:
    """Load one file in one transaction on `conn` (an autocommit connection); see the module docstring.

    `window`: the plausible dates (`plausible_window`); None checks no window. A lost connection is a
    `UserError` that says so; any other failure is a `UserError` for this file, with nothing of it kept.
    """
    started = time.monotonic()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            result = _load(cur, ff, triggered_by, _rules(ff.feed, window))
        conn.commit()
    except Exception as exc:  # noqa: BLE001 - whatever stops one file is reported for it, and the batch goes on
        _rollback(conn)
        if conn.closed:
            raise UserError(
                f"{ff.path}: lost the database connection while loading ({_one_line(exc)}). "
                "Nothing of this file was kept; load it again when the database is back."
            ) from None
        raise UserError(
            f"{ff.path}: the load stopped: {_one_line(exc)[:2 * MAX_QUOTED]}. Nothing of this file was kept; "
            "the other files are loaded. Please report this as a bug."
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


def _load(cur, ff: FeedFile, triggered_by: str, rules: tuple[RowRule, ...]) -> FileLoad:
    cur.execute("select pg_advisory_xact_lock(%s)", (_lock_key(ff.feed),))
    cur.execute(
        """insert into raw.evidence_loads (feed, file_path, content_hash, arrived_at, triggered_by, status)
           values (%s, %s, '', %s, %s, 'loaded') returning load_id""",
        (ff.feed.name, str(ff.path), ff.arrived_at, triggered_by),
    )
    result = FileLoad(file=str(ff.path), feed=ff.feed.name, load_id=cur.fetchone()[0], status="loaded")
    rows = _fast_load(cur, ff, result, rules)
    if rows is None:
        rows = _staged_load(cur, ff, result, rules)
    result.rows_in_file = rows.rows_in_file
    result.status = "rejected" if rows.rejected else "loaded"
    result.message = rows.rejected
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
    _show_quarantined(cur, result)
    return result


def _staged_load(cur, ff: FeedFile, result: FileLoad, rules: tuple[RowRule, ...]) -> FileRows:
    """The staging path: validate into staging, check the rules, merge; sets the counts in `result`."""
    staging = f"staging_{ff.feed.name}"
    cur.execute(_staging_ddl(ff.feed, staging))
    clock = time.perf_counter()
    rows = _stage(cur, ff, staging, result)
    result.phases["stage"], clock = time.perf_counter() - clock, time.perf_counter()
    staged, rule_bad = _check(cur, ff, staging, result, rules)
    result.phases["check"], clock = time.perf_counter() - clock, time.perf_counter()
    result.rows_loaded, merge_bad = _merge(cur, ff, staging, result)
    result.phases["merge"] = time.perf_counter() - clock
    result.rows_quarantined = rows.rows_bad + rule_bad + merge_bad
    result.rows_duplicate = staged - merge_bad - result.rows_loaded
    result.load_path = "merge"
    if result.rows_quarantined:
        _keep_quarantine_once(cur, ff.feed, rows.content_hash, result)
    return rows


def _keep_quarantine_once(cur, feed: Feed, content_hash: str, result: FileLoad) -> None:
    """Drop this load's quarantine rows for lines that an earlier load of the same content quarantined.

    They still count as quarantined in this load; `rows_already_quarantined` says how many, and
    `quarantine_load_ids` which loads hold the rows.
    """
    cur.execute("""select load_id from raw.evidence_loads where feed = %s and content_hash = %s and load_id <> %s
                   order by load_id""", (feed.name, content_hash, result.load_id))
    earlier = [load_id for (load_id,) in cur.fetchall()]
    result.quarantine_load_ids = [result.load_id]
    if not earlier:
        return
    cur.execute(
        """delete from raw.evidence_quarantine q
            where q.load_id = %s
              and exists (select from raw.evidence_quarantine e where e.load_id = any(%s) and e.line_no = q.line_no)""",
        (result.load_id, earlier),
    )
    result.rows_already_quarantined = cur.rowcount
    cur.execute("select distinct load_id from raw.evidence_quarantine where load_id = any(%s) order by 1", (earlier,))
    result.quarantine_load_ids = [load_id for (load_id,) in cur.fetchall()] + [result.load_id]


def _show_quarantined(cur, result: FileLoad) -> None:
    """The first SHOWN_PROBLEMS quarantined rows of the file, for the report."""
    if not result.rows_quarantined:
        return
    load_ids = result.quarantine_load_ids or [result.load_id]
    cur.execute(
        """select line_no, field, reason, load_id from (
               select distinct on (line_no) line_no, field, reason, load_id
                 from raw.evidence_quarantine where load_id = any(%s)
                order by line_no, load_id) q
            order by line_no limit %s""",
        (load_ids, SHOWN_PROBLEMS),
    )
    result.problems = [BadLine(line_no, field, reason, "", load_id)
                       for line_no, field, reason, load_id in cur.fetchall()]


def _fast_load(cur, ff: FeedFile, result: FileLoad, rules: tuple[RowRule, ...]) -> FileRows | None:
    """The fast path (see the module docstring); None, with nothing of it kept, when the file must be staged."""
    clock = time.perf_counter()
    cur.execute("savepoint fast_path")
    try:
        rows = _copy_direct(cur, ff, result, rules)
    except psycopg2.Error:  # a unique_violation (a row already there, or repeated in the file), or a refused value
        if cur.connection.closed:
            raise
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


def _copy_direct(cur, ff: FeedFile, result: FileLoad, rules: tuple[RowRule, ...]) -> FileRows | None:
    """COPY the file's rows straight into the raw table; None if a row is bad or breaks a rule.

    The COPY's `where` is the staging path's own SQL: it skips a row that breaks a rule across fields
    or is dated outside the window (or whose business_date, derived in Python, differs from the SQL
    one), so a row count short of the file's says the file must be staged.
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
                f"and not ({_bad_any(rules)})")
        while table_rows.pending is not None:
            cur.copy_expert(copy, _Stream(table_rows.stream()), size=1 << 20)
            result.rows_loaded += cur.rowcount
    if bad or result.rows_loaded != rows.rows_in_file:
        return None
    if table_rows.days:
        result.min_business_date = date.fromisoformat(min(table_rows.days).decode())
        result.max_business_date = date.fromisoformat(max(table_rows.days).decode())
    return rows


def _content_loaded(cur, feed: Feed, content_hash: str, load_id: int) -> bool:
    """Whether the same rows were loaded under another name (see `pending_files`: never for no rows)."""
    cur.execute("""select exists (select from raw.evidence_loads
                                   where feed = %s and content_hash = %s and load_id <> %s and rows_in_file > 0)""",
                (feed.name, content_hash, load_id))
    return cur.fetchone()[0]


def _open(ff: FeedFile) -> BinaryIO:
    try:
        return open_input(ff.path, MAX_FEED_FILE_BYTES)
    except UnreadableFile as exc:
        raise UserError(f"{ff.path}: {exc}") from None


def _stage(cur, ff: FeedFile, staging: str, result: FileLoad) -> FileRows:
    """Validate the file while it streams into the staging table in COPY segments; quarantine bad lines."""
    with _Quarantine(result.load_id, str(ff.path)) as quarantine:
        with _open(ff) as handle:
            rows = FileRows(ff.feed, handle, ff.format, quarantine.add)
            lines = rows.copy_lines()
            first = next(lines, None)  # reads the header, which gives the staging columns
            copy = f"copy {staging} (line_no, {', '.join(rows.staging_columns)}) from stdin with (format csv)"
            stream = chain([first] if first else [], lines)
            while (line := next(stream, None)) is not None:
                _copy_segment(cur, copy, chain([line], islice(stream, COPY_SEGMENT_ROWS - 1)), rows, quarantine)
        quarantine.flush(cur)
    return rows


def _copy_segment(cur, copy: str, lines: Iterator[bytes], rows: FileRows, quarantine: _Quarantine) -> None:
    """COPY a segment of checked lines into staging; if the database refuses it, copy it line by line
    and quarantine the lines it refuses, with its reason.

    The lines stream into the COPY while they are validated (the server works while Python does),
    and are kept until the segment is in, for the line-by-line retry.
    """
    segment: list[bytes] = []

    def kept() -> Iterator[bytes]:
        for line in lines:
            segment.append(line)
            yield line

    sent = kept()
    cur.execute("savepoint copy_segment")
    try:
        cur.copy_expert(copy, _Stream(sent), size=1 << 20)
    except psycopg2.Error:
        if cur.connection.closed:
            raise
        for _ in sent:  # the rest of the segment, if the COPY stopped reading
            pass
        cur.execute("rollback to savepoint copy_segment")
        for line in segment:
            cur.execute("savepoint copy_row")
            try:
                cur.copy_expert(copy, io.BytesIO(line))
            except psycopg2.Error as exc:
                if cur.connection.closed:
                    raise
                cur.execute("rollback to savepoint copy_row")
                rows.rows_bad += 1
                line_no, _, body = line.rstrip(b"\n").partition(b",")
                quarantine.add(BadLine(int(line_no), _refused_field(exc), _refused_reason(exc),
                                       body.decode("utf-8", errors="replace")))
            else:
                cur.execute("release savepoint copy_row")
    cur.execute("release savepoint copy_segment")


_COPY_COLUMN = re.compile(r"\bcolumn (\w+)")


def _refused_field(exc: psycopg2.Error) -> str | None:
    """The column a COPY error names (`COPY staging_orders, line 1, column amount: ...`)."""
    match = _COPY_COLUMN.search(exc.diag.context or "")
    return match.group(1) if match else exc.diag.column_name


def _refused_reason(exc: psycopg2.Error) -> str:
    message = " ".join((exc.diag.message_primary or _one_line(exc)).split())
    if len(message) > MAX_QUOTED + 60:
        message = message[:MAX_QUOTED + 60] + "..."
    return f"the database refused the row although it passed the format checks: {message}"


def _check(cur, ff: FeedFile, staging: str, result: FileLoad, rules: tuple[RowRule, ...]) -> tuple[int, int]:
    """Quarantine staged rows that break a rule across fields; the rows left and the rows moved."""
    staged, result.min_business_date, result.max_business_date, rule_bad = _staged_stats(cur, rules, staging)
    if rule_bad:
        _quarantine_rule_breakers(cur, ff.feed, rules, staging, result.load_id, str(ff.path))
        staged, result.min_business_date, result.max_business_date, _ = _staged_stats(cur, rules, staging)
    return staged, rule_bad


def _merge(cur, ff: FeedFile, staging: str, result: FileLoad) -> tuple[int, int]:
    """Insert the staged rows whose natural key is new; how many were inserted, and how many the
    database refused (each then tried on its own, under a savepoint, and quarantined with the reason)."""
    feed = ff.feed
    columns = ", ".join(feed.column_names)
    insert = (f"insert into {feed.table} ({columns}, business_date, arrived_at, load_id) "
              f"select {columns}, business_date, %s, %s from {staging} {{where}} on conflict do nothing")
    cur.execute("savepoint merge")
    try:
        cur.execute(insert.format(where=""), (ff.arrived_at, result.load_id))
        inserted = cur.rowcount
        cur.execute("release savepoint merge")
        return inserted, 0
    except psycopg2.Error:
        if cur.connection.closed:
            raise
        cur.execute("rollback to savepoint merge")
    cur.execute(f"create index if not exists {staging}_line_no on {staging} (line_no)")
    cur.execute(f"select line_no from {staging} order by line_no")
    inserted = refused = 0
    as_text = ", ".join(f"{c}::text" for c in feed.column_names)
    for (line_no,) in cur.fetchall():
        cur.execute("savepoint merge_row")
        try:
            cur.execute(insert.format(where="where line_no = %s"), (ff.arrived_at, result.load_id, line_no))
            inserted += cur.rowcount
            cur.execute("release savepoint merge_row")
        except psycopg2.Error as exc:
            if cur.connection.closed:
                raise
            cur.execute("rollback to savepoint merge_row")
            refused += 1
            cur.execute(
                f"""with bad as (delete from {staging} where line_no = %s returning *)
                    insert into raw.evidence_quarantine (load_id, file_path, line_no, field, reason, raw_line)
                    select %s, %s, line_no, %s, %s, concat_ws(',', {as_text}) from bad""",
                (line_no, result.load_id, str(ff.path), exc.diag.column_name, _refused_reason(exc)),
            )
    cur.execute("release savepoint merge")
    return inserted, refused


def _staging_ddl(feed: Feed, staging: str) -> str:
    columns = ",\n".join(f"    {c.name} {c.sql_type}" for c in feed.columns)
    return (f"create temp table if not exists {staging} (\n    line_no integer not null,\n{columns},\n"
            f"    business_date date generated always as {_business_date_sql(feed)} stored\n"
            ") on commit delete rows")


def _business_date_sql(feed: Feed) -> str:
    return f"((({feed.business_at_sql}) at time zone '{FEED_TIMEZONE}')::date)"


def _bad_any(rules: tuple[RowRule, ...]) -> str:
    return " or ".join(f"coalesce({r.bad}, false)" for r in rules) or "false"


def _staged_stats(cur, rules: tuple[RowRule, ...], staging: str) -> tuple[int, date | None, date | None, int]:
    """Rows staged, their business date range, and how many break a rule across fields: one pass."""
    cur.execute(f"""select count(*), min(business_date), max(business_date), count(*) filter (where {_bad_any(rules)})
                      from {staging}""")
    return cur.fetchone()


def _quarantine_rule_breakers(cur, feed: Feed, rules: tuple[RowRule, ...], staging: str, load_id: int,
                              file: str) -> None:
    """Move the staged rows that break a rule across fields to the quarantine, with the first rule broken."""
    field_case = " ".join(f"when coalesce({r.bad}, false) then '{r.field}'" for r in rules)
    reason_case = " ".join(f"when coalesce({r.bad}, false) then {r.reason_expr}" for r in rules)
    as_text = ", ".join(f"{c}::text" for c in feed.column_names)
    cur.execute(
        f"""with bad as (delete from {staging} where {_bad_any(rules)} returning *)
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
    load_id), cut into COPY streams of at most `COPY_SEGMENT_ROWS` rows.
    """

    def __init__(self, lines: Iterator[bytes], feed: Feed, columns: tuple[str, ...], arrived_at: datetime,
                 load_id: int, bad: list[BadLine]):
        self._lines = lines
        self._business_at = [columns.index(name) for name in feed.business_at]
        self._suffix = f",{arrived_at.isoformat()},{load_id}\n".encode()
        self._bad = bad
        self.days: set[bytes] = set()
        self.pending: bytes | None = next(self._derived(), None)  # the row awaiting the next COPY

    def _derived(self) -> Iterator[bytes]:
        """The row of the raw table per line, until a line was bad."""
        first, *rest = self._business_at
        suffix, days, bad = self._suffix, self.days, self._bad
        for line in self._lines:
            if bad:
                return
            body = line[line.index(b",") + 1:-1]  # without the line number and the line end
            fields = body.split(b",") if b'"' not in body else _quoted_fields(body)
            day = _shanghai_date(fields[first] or next(fields[i] for i in rest if fields[i]))
            days.add(day)
            yield body + b"," + day + suffix

    def stream(self) -> Iterator[bytes]:
        """The rows from `pending` up to the end of the segment (`COPY_SEGMENT_ROWS`); the row after it is the
        next `pending`."""
        pending = self.pending
        if pending is None:
            return
        yield pending
        left = COPY_SEGMENT_ROWS
        for row in self._derived():
            left -= 1
            if not left:
                self.pending = row
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

    def __init__(self, load_id: int, file: str):
        self.load_id = load_id
        self.file = file
        self.count = 0
        self._spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8", newline="")
        self._writer = csv.writer(self._spool)

    def __enter__(self) -> _Quarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self._spool.close()

    def add(self, bad: BadLine) -> None:
        self.count += 1
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

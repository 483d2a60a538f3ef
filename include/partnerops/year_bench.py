"""`partnerops bench-year`: the reference year simulated, loaded and tracked on this machine.

For the 160 sample agreements, business dates 1 January to 31 December at `scale` of the
reference volume (about 300,000 orders and as many shipments a day at 1.0):

1. **bulk**: the year up to the last `daily_days` days, a chunk of `chunk_days` business dates at a
   time. The simulator writes a chunk's files in a worker process while the loader loads the
   previous chunk's (files delivered by the day after the chunk's last date; the later ones stay
   for the next chunk), and deletes them once loaded. Every `build_every_days` the project is
   built as of that delivery date (the first build is a full build of the fresh database, the
   others the ordinary incremental `dbt build`), and retention archives the raw months past it
   (`partnerops.evidence.retention`, `PARTNEROPS_RETENTION_MARGIN_DAYS`), as a deployment's
   schedule would.
2. **daily**: the last `daily_days` days one at a time: the day's deliveries are loaded, the
   ordinary incremental `dbt build` runs as of that day (the one `commitment_tracking` runs), and
   retention archives what is due.

Progress streams as it goes (days, rows, rows/s, database size, ETA). At the end a Markdown table
gives per step the wall time, the rows, rows/s, peak memory (resident set of the simulator, the
loader and dbt, read from the kernel's high-water marks) and the database size; docs/benchmarks.md
keeps it.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path

from partnerops.db import connect

__all__ = ["StepFigures", "YearResult", "chunks", "files_delivered", "render_table", "run_bench_year"]

_DELIVERED = re.compile(r"_(\d{4}-\d{2}-\d{2})\.from-")


@dataclass
class StepFigures:
    """One step of the bench, summed over its runs."""

    label: str
    runs: int = 0
    seconds: float = 0.0
    rows: int = 0
    peak_rss_kib: int = 0
    each: list[float] = field(default_factory=list)  # seconds of every run

    def add(self, seconds: float, rows: int = 0) -> None:
        self.runs += 1
        self.seconds += seconds
        self.rows += rows
        self.each.append(seconds)


@dataclass
class YearResult:
    steps: dict[str, StepFigures]
    days: int
    wall_seconds: float
    database_bytes: int  # at the end
    max_database_bytes: int
    max_database_on: date | None  # the delivery date after whose load the database was largest
    archived_rows: int
    archive_bytes: int
    evidence_rows: int  # order and shipment rows in the raw tables at the end (archived ones not counted)


def chunks(first: date, last: date, size: int) -> list[tuple[date, date]]:
    """Consecutive ranges of at most `size` days covering first..last."""
    out = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=size - 1))
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def files_delivered(folder: Path, up_to: date) -> list[Path]:
    """The simulator's files under `folder` delivered on or before `up_to` (by their names)."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*.from-*")
                  if (m := _DELIVERED.search(p.name)) and date.fromisoformat(m.group(1)) <= up_to)


def _simulate_chunk(agreements, start: date, end: date, out: Path, scale: float, seed: int) -> tuple[int, float, int]:
    """In the worker: write a chunk's files; (rows written, seconds, the worker's peak RSS in KiB)."""
    from partnerops.evidence.simulate import simulate

    report = simulate(agreements, start=start, end=end, out=out, seed=seed, scale=scale)
    return sum(report.rows.values()), report.seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GB"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def run_bench_year(*, scale: float = 1.0, year: int = 2026, daily_days: int = 30, chunk_days: int = 7,
                   build_every_days: int = 28, seed: int = 2015, workdir: Path | None = None,
                   keep_database: bool = False) -> YearResult:
    """Simulate, load and track the year; the figures per step (see the module docstring)."""
    from partnerops.agreements.sample import write_sample_corpus
    from partnerops.calendar import ensure_calendar
    from partnerops.db import create_database, database_url, drop_database, with_database
    from partnerops.dbt import run_dbt
    from partnerops.evidence.load import load_files
    from partnerops.evidence.retention import archive_evidence
    from partnerops.evidence.simulate import agreements_from_database
    from partnerops.intake import run_intake
    from partnerops.migrations import upgrade
    from partnerops.settings import get_settings

    first, last = date(year, 1, 1), date(year, 12, 31)
    days = (last - first).days + 1
    if not 1 <= daily_days < days:
        raise ValueError(f"daily_days must be between 1 and {days - 1}, got {daily_days}")
    daily_from = last - timedelta(days=daily_days - 1)
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-year-"))
    inbox = work / "inbox"
    settings = replace(get_settings(), data_dir=work / "var")  # retention's archive goes to <work>/var/archive
    server = database_url(settings)
    name = f"partnerops_bench_year_{os.getpid()}"
    create_database(server, name)
    url = with_database(server, name)
    steps = {label: StepFigures(label) for label in (
        "simulate", "load", "first build", "bulk builds", "archive", "daily load", "daily build")}
    clock = time.monotonic()
    max_db = 0
    max_db_on: date | None = None
    days_done = 0

    def db_size(on: date | None = None) -> int:
        nonlocal max_db, max_db_on
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("select pg_database_size(current_database())")
            size = cur.fetchone()[0]
        if size > max_db:
            max_db, max_db_on = size, on or max_db_on
        return size

    def progress(msg: str) -> None:
        elapsed = time.monotonic() - clock
        eta = elapsed / days_done * (days - days_done) if days_done else 0
        rows = steps["load"].rows + steps["daily load"].rows
        print(f"[{_duration(elapsed):>7}] day {days_done:3d}/{days}: {rows / 1e6:7.1f} M rows loaded, "
              f"db {_gib(db_size())}, ETA {_duration(eta)} | {msg}", flush=True)

    def load(step: str, up_to: date) -> tuple[int, float]:
        paths = files_delivered(inbox, up_to)
        started = time.monotonic()
        report = load_files(paths, database_url=url, triggered_by="bench-year", settings=settings)
        seconds = time.monotonic() - started
        rows = sum(f.rows_loaded for f in report.files)
        steps[step].add(seconds, rows)
        if report.skipped:
            raise RuntimeError(f"files not loaded: {report.skipped[:3]}")
        for p in paths:
            p.unlink()
        db_size(up_to)  # the largest the database gets: after a load, before retention archives
        return rows, seconds

    def build(step: str, as_of: date) -> float:
        started = time.monotonic()
        run_dbt(["build"], url=url, as_of=as_of, target_path=work / "target", capture=True)
        seconds = time.monotonic() - started
        steps[step].add(seconds)
        started = time.monotonic()
        archived = archive_evidence(url, today=as_of, settings=settings)
        steps["archive"].add(time.monotonic() - started, sum(a.rows for a in archived))
        if archived:
            print(f"  archived {', '.join(a.partition for a in archived)} "
                  f"({sum(a.rows for a in archived):,} rows)", flush=True)
        return seconds

    executor = ProcessPoolExecutor(max_workers=1, mp_context=get_context("fork"))
    try:
        upgrade(url)
        ensure_calendar(url)
        corpus = write_sample_corpus(work / "agreements", brands=160, groups=110, seed=seed, year=year)
        run_intake([corpus[0].parent], database_url=url, triggered_by="bench-year", settings=settings)
        agreements = agreements_from_database(url)
        print(f"database {name}; {len(agreements)} agreements; {days} business dates of {year} at scale "
              f"{scale:g}; files and archives in {work}", flush=True)

        # 1. bulk: simulate chunk k + 1 while chunk k loads
        bulk = chunks(first, daily_from - timedelta(days=1), chunk_days)
        daily = chunks(daily_from, last, daily_days)  # simulated in one piece, loaded a day at a time

        def submit(rng: tuple[date, date]) -> Future:
            return executor.submit(_simulate_chunk, agreements, rng[0], rng[1], inbox, scale, seed)

        pending = submit(bulk[0])
        last_build: date | None = None
        for i, (start, end) in enumerate(bulk):
            rows, sim_s, sim_rss = pending.result()
            steps["simulate"].add(sim_s, rows)
            steps["simulate"].peak_rss_kib = max(steps["simulate"].peak_rss_kib, sim_rss)
            pending = submit(bulk[i + 1] if i + 1 < len(bulk) else daily[0])
            delivered = end + timedelta(days=1)
            loaded, load_s = load("load", delivered)
            days_done = (end - first).days + 1
            msg = f"{start}..{end}: {loaded:,} rows in {load_s:.0f} s ({loaded / max(load_s, 1e-9):,.0f} rows/s)"
            if last_build is None or (delivered - last_build).days >= build_every_days or i + 1 == len(bulk):
                step = "first build" if last_build is None else "bulk builds"
                msg += f"; {step} as of {delivered}: {build(step, delivered):.0f} s"
                last_build = delivered
            progress(msg)
        rows, sim_s, sim_rss = pending.result()
        steps["simulate"].add(sim_s, rows)
        steps["simulate"].peak_rss_kib = max(steps["simulate"].peak_rss_kib, sim_rss)
        steps["load"].peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        # 2. daily: a day's deliveries, then the day's incremental build
        day = daily_from
        while day <= last:
            delivered = day + timedelta(days=1)
            loaded, load_s = load("daily load", delivered)
            build_s = build("daily build", delivered)
            days_done += 1
            progress(f"{day}: {loaded:,} rows in {load_s:.1f} s; daily build as of {delivered}: {build_s:.1f} s")
            day += timedelta(days=1)
        dbt_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest dbt run
        for step in ("first build", "bulk builds", "daily build"):
            steps[step].peak_rss_kib = dbt_rss
        steps["daily load"].peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("select (select count(*) from raw.orders) + (select count(*) from raw.shipments), "
                        "coalesce((select sum(row_count) from raw.evidence_archives), 0)")
            evidence_rows, archived_rows = cur.fetchone()
        archive_bytes = sum(p.stat().st_size for p in (settings.data_dir / "archive").rglob("*.csv.gz"))
        return YearResult(steps, days, time.monotonic() - clock, db_size(), max_db, max_db_on, int(archived_rows),
                          archive_bytes, evidence_rows)
    finally:
        executor.shutdown(cancel_futures=True)
        if keep_database:
            print(f"kept database {name}", flush=True)
        else:
            drop_database(server, name)
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def render_table(result: YearResult) -> str:
    """The Markdown table of docs/benchmarks.md: per step wall time, rows, rows/s and peak memory."""
    lines = ["| step | runs | wall time | rows | rows/s | peak RSS | each run: median / max |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in result.steps.values():
        if not s.runs:
            continue
        rate = f"{s.rows / s.seconds:,.0f}" if s.rows and s.seconds else ""
        rss = f"{s.peak_rss_kib / 2**20:.2f} GB" if s.peak_rss_kib else ""
        each = f"{statistics.median(s.each):.1f} s / {max(s.each):.1f} s" if s.runs > 1 else ""
        lines.append(f"| {s.label} | {s.runs} | {_duration(s.seconds)} | {s.rows:,} | {rate} | {rss} | {each} |")
    lines.append(f"| **the year** | {result.days} days | **{_duration(result.wall_seconds)}** | "
                 f"{result.evidence_rows + result.archived_rows:,} order + shipment rows | | | |")
    lines.append("")
    lines.append(f"Database: {_gib(result.database_bytes)} at the end, at most {_gib(result.max_database_bytes)}"
                 f"{f' (after the deliveries of {result.max_database_on})' if result.max_database_on else ''}; "
                 f"{result.archived_rows:,} raw rows archived by retention into {_gib(result.archive_bytes)} "
                 f"of .csv.gz files; {result.evidence_rows:,} order and shipment rows kept in the raw tables.")
    return "\n".join(lines)

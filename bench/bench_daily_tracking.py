"""Benchmark: a day's incremental tracking against the full build, on the simulator's evidence.

Same machine, same database, same dbt threads, side by side:

1. the sample agreements (160 brands) are taken in, and the simulator's files of `--days`
   business dates (orders and shipments at `--scale` of the reference volume) delivered by
   the as-of date X are loaded;
2. **full build**: `dbt build` of the whole project on that fresh database, as of X;
3. the next day's files (delivered on X + 1) are loaded, and **next day**: the ordinary
   incremental `dbt build` as of X + 1;
4. the same build again with nothing new (**fixed cost**: dbt's start, ~190 nodes, their queries);
5. a `--full-refresh` over X..X + 1 rebuilds the same history, and the statuses, threshold
   windows, GMV pacing and prospect KPIs of X + 1 are compared with the incremental run's
   (they must be equal).

Prints a Markdown table (the one in docs/benchmarks.md) with the wall times, the ratio of
the next day to the full build, and the database size. The evidence files are kept in
`--files` (default: a folder under the system's temporary directory) and reused when present,
so a second run at the same scale skips the simulation.

Usage: python bench/bench_daily_tracking.py [--scale 0.1] [--days 30] [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg2

from partnerops.agreements.sample import write_sample_corpus
from partnerops.calendar import ensure_calendar
from partnerops.db import create_database, drop_database, throwaway_server, with_database
from partnerops.dbt import run_dbt
from partnerops.evidence.load import load_files
from partnerops.evidence.simulate import agreements_from_sample, simulate
from partnerops.intake import run_intake
from partnerops.migrations import upgrade

FIRST_DAY = date(2026, 3, 1)
_DELIVERED = re.compile(r"_(\d{4}-\d{2}-\d{2})\.from-")
COMPARED = {
    "commitment_statuses": "select * from marts.commitment_statuses where as_of_date = %(day)s order by 1, 2, 3",
    "threshold_windows": "select * from marts.threshold_windows order by 1, 2, 3, 4, 5, 6, 7",
    "gmv_pacing": "select * from marts.gmv_pacing order by 1, 2, 3, 4, 5",
    "prospect_kpis": "select * from marts.prospect_kpis order by 1",
}


def delivered_on(path: Path) -> date:
    return date.fromisoformat(_DELIVERED.search(path.name).group(1))


def files_delivered(folder: Path, first: date, last: date) -> list[Path]:
    return sorted(p for p in folder.rglob("*.from-*") if first <= delivered_on(p) <= last)


def query(url: str, sql: str, params: dict | None = None) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def timed(step, *args, **kwargs) -> float:
    started = time.monotonic()
    step(*args, **kwargs)
    return time.monotonic() - started


def load(url: str, paths: list[Path]) -> tuple[float, int]:
    started = time.monotonic()
    report = load_files(paths, database_url=url, triggered_by="bench")
    rows = sum(f.rows_loaded for f in report.files)
    query(url, "analyze raw.orders; analyze raw.shipments")
    return time.monotonic() - started, rows


def slowest_nodes(target: Path, count: int = 12) -> list[tuple[str, float]]:
    """The `count` slowest nodes of the last dbt run in `target` (run_results.json), seconds each."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    timed_nodes = sorted(((r["unique_id"], r["execution_time"]) for r in results), key=lambda n: -n[1])
    return timed_nodes[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="order volume, share of the reference (default 0.1)")
    parser.add_argument("--days", type=int, default=30, help="business dates loaded before the full build")
    parser.add_argument("--files", type=Path, help="folder of the simulated files (kept and reused)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args(argv)

    as_of = FIRST_DAY + timedelta(days=args.days)  # the files of the first `days` dates are delivered by then
    next_day = as_of + timedelta(days=1)
    files = args.files or Path(tempfile.gettempdir()) / f"partnerops-bench-{args.scale:g}x{args.days}"
    with tempfile.TemporaryDirectory() as tmp, throwaway_server() as server:
        admin_url = server.admin_url
        tmp = Path(tmp)
        name = f"bench_daily_{uuid.uuid4().hex[:8]}"
        create_database(admin_url, name)
        url = with_database(admin_url, name)
        print(f"database {name}; evidence files in {files}", flush=True)
        try:
            upgrade(url)
            ensure_calendar(url)
            corpus = write_sample_corpus(tmp / "agreements", brands=160, groups=110, seed=2015, year=2026)
            run_intake([corpus[0].parent], database_url=url, triggered_by="bench")
            if not files_delivered(files, next_day, next_day):
                print(f"simulating {FIRST_DAY}..{as_of} at scale {args.scale:g} ...", flush=True)
                started = time.monotonic()
                simulate(agreements_from_sample(brands=160, groups=110, seed=2015, year=2026), start=FIRST_DAY,
                         end=as_of, out=files, scale=args.scale)
                print(f"  {time.monotonic() - started:.0f} s", flush=True)

            load_s, rows = load(url, files_delivered(files, FIRST_DAY, as_of))
            print(f"loaded {rows:,} rows delivered by {as_of} in {load_s:.0f} s", flush=True)
            target = tmp / "target"
            full_s = timed(run_dbt, ["build"], url=url, as_of=as_of, target_path=target, capture=True)
            print(f"full build as of {as_of}: {full_s:.1f} s", flush=True)

            next_load_s, next_rows = load(url, files_delivered(files, next_day, next_day))
            next_s = timed(run_dbt, ["build"], url=url, as_of=next_day, target_path=target, capture=True)
            print(f"next day ({next_rows:,} rows loaded in {next_load_s:.1f} s): {next_s:.1f} s", flush=True)
            for node, seconds in slowest_nodes(target):
                print(f"  {seconds:7.1f} s  {node}", flush=True)
            # the same run again with nothing new: what a run costs whatever the day brings
            floor_s = timed(run_dbt, ["build"], url=url, as_of=next_day, target_path=target, capture=True)
            nodes = len(json.loads((target / "run_results.json").read_text())["results"])
            print(f"the same run again, nothing new: {floor_s:.1f} s ({nodes} nodes)", flush=True)
            size = query(url, "select pg_database_size(current_database())")[0][0]
            evidence = query(url, "select (select count(*) from raw.orders) "
                                  "+ (select count(*) from raw.shipments)")[0][0]

            incremental = {t: query(url, sql, {"day": next_day}) for t, sql in COMPARED.items()}
            refresh = ["build", "--full-refresh", "--exclude", "resource_type:snapshot", "test_type:unit"]
            refresh_s = timed(run_dbt, refresh, url=url, as_of=next_day, vars={"history_start": str(as_of)},
                              target_path=target, capture=True)
            refreshed = {t: query(url, sql, {"day": next_day}) for t, sql in COMPARED.items()}
            differ = [t for t in COMPARED if incremental[t] != refreshed[t]]
        finally:
            if args.keep:
                print(f"kept database {name}")
            else:
                drop_database(admin_url, name)

    print()
    print(f"| scale | order + shipment rows | database | full build (as of {as_of}) | next day's incremental | "
          "ratio | nothing new (fixed cost) | full refresh of the 2 days | next day = full refresh |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print(f"| {args.scale:g} | {evidence / 1e6:.2f} M | {size / 2**30:.2f} GB | {full_s:.1f} s | {next_s:.1f} s | "
          f"{next_s / full_s:.2f}x | {floor_s:.1f} s ({floor_s / full_s:.2f}x) | {refresh_s:.1f} s | "
          f"{'yes' if not differ else 'NO: ' + ', '.join(differ)} |")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

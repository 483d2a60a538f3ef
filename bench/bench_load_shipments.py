"""Benchmark: the evidence loader on a 1-million-row shipments file, against a bare COPY of the same file.

Both run in this script, one after the other, against a throwaway database on the server in
PARTNEROPS_BENCH_ADMIN_URL (default: postgresql://root@127.0.0.1:5432/postgres):

- **bare COPY**: `copy ... from stdin (format csv)` of the file, sent from this process, into a
  table with the same column types and no key, index or constraint;
- **loader**: `partnerops.evidence.load.load_file()` on the same file into an empty
  `raw.shipments`, end to end, one transaction: every row is new and valid, so it takes the fast
  path (validation and rule checks in Python while the rows stream with COPY straight into
  `raw.shipments`), and the manifest;
- **loader, again**: the same file a second time (every row a duplicate): the fast path meets a
  duplicate at once and the file takes the staging path (COPY into staging, rule checks, the
  merge with `insert ... on conflict do nothing` on the natural key);
- **loader, fallback**: the same file into a `raw.shipments` that already holds its last row:
  the fast path copies every row, meets the duplicate at the end, rolls back to its savepoint,
  and the staging path loads the file (the worst case of the fallback);
- **keyed COPY**: the rows the loader stored (the file's columns and the three it derives:
  business date, arrival, load) copied straight into the same keyed, partitioned
  `raw.shipments`: the physical limit once exactly-once needs the key;
- **loader, realistic**: the file with the simulator's default row faults (`Faults`: 0.2 % of
  rows repeated in the file, 0.05 % malformed), into an empty `raw.shipments`.

The loader's phases are printed too: `fast` (the fast path, kept or rolled back), `stage`
(validation streaming into the COPY to the staging table), `check` (one pass over the staged
rows: rules across fields, business date range) and `merge` (the insert into `raw.shipments`).

Each is timed `--repeat` times, alternating, and the median is reported with the ratio of the
loader's rows per second to the keyed COPY's (the goal is >= 0.8) and to the bare COPY's. With a local server the
CPU seconds of the server process and of this script are reported too: on a shared machine they
say more than wall time. A benchmark, not a
test: it prints figures (see docs/benchmarks.md) and asserts nothing.

    .venv/bin/python bench/bench_load_shipments.py [--rows 1000000] [--repeat 3] [--db-prefix evidence_bench_]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg2

from partnerops.db import connect, create_database, drop_database, with_database
from partnerops.evidence.load import FileLoad, find_feed_files, load_file, prepare_session
from partnerops.evidence.simulate import Faults, malform_row
from partnerops.migrations import upgrade

ADMIN_URL = os.environ.get("PARTNEROPS_BENCH_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
HEADER = "order_id,brand_id,paid_at,shipped_at,delivered_at,carrier,warehouse_id\n"
BARE_TABLE = """create table bench_bare (order_id text, brand_id text, paid_at timestamptz, shipped_at timestamptz,
                                          delivered_at timestamptz, carrier text, warehouse_id text)"""
_HMS = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]


def write_file(path: Path, rows: int, first_day: date = date(2026, 3, 2), days: int = 3, seed: int = 1) -> None:
    """Shipments of `days` business days, in paid order, brands interleaved (as an extract would be)."""
    rng = random.Random(seed)
    dates = [(first_day + timedelta(days=k)).isoformat() for k in range(days + 12)]

    def ts(s: int) -> str:
        return f"{dates[s // 86_400]}T{_HMS[s % 86_400]}+08:00"

    seq = [0] * 161
    with path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as f:
        f.write(HEADER)
        for day in range(days):
            n = rows // days + (1 if day < rows % days else 0)
            for paid in sorted(day * 86_400 + int(rng.random() * 86_400) for _ in range(n)):
                brand = 1 + int(160 * rng.random() ** 2)
                seq[brand] += 1
                shipped = paid + 3600 + int(rng.random() * 200_000)
                delivered = shipped + 36_000 + int(rng.random() * 300_000)
                f.write(f"O{dates[day].replace('-', '')}B{brand:04d}{seq[brand]:07d},B{brand:04d},{ts(paid)},"
                        f"{ts(shipped)},{ts(delivered)},SF,WH-HZ-{brand % 4 + 1:02d}\n")


def execute(url: str, sql: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def backend_cpu(conn) -> float | None:
    """CPU seconds used so far by the connection's server process (None unless the server is local)."""
    with conn.cursor() as cur:
        cur.execute("select pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, list[float]] = {}
#: What the loader made of the realistic file (its last run).
REALISTIC: dict[str, object] = {}


def _cpu(label: str, conn, server_before: float | None, client_before: float) -> None:
    server_after = backend_cpu(conn)
    if server_before is not None and server_after is not None:
        CPU.setdefault(label, []).append(server_after - server_before + time.process_time() - client_before)


def _timed_copy(url: str, label: str, copy_sql: str, path: Path) -> float:
    """Wall seconds of one `copy ... from stdin` of `path` on a new connection, committed; its CPU under `label`."""
    execute(url, "checkpoint")
    conn = psycopg2.connect(url)
    try:
        server, client = backend_cpu(conn), time.process_time()
        started = time.perf_counter()
        with conn.cursor() as cur, path.open("rb") as f:
            cur.copy_expert(copy_sql, f, size=1 << 20)
        conn.commit()
        seconds = time.perf_counter() - started
        _cpu(label, conn, server, client)
        return seconds
    finally:
        conn.close()


def bare_copy(url: str, path: Path) -> float:
    execute(url, "drop table if exists bench_bare")
    execute(url, BARE_TABLE)
    return _timed_copy(url, "bare COPY", "copy bench_bare from stdin with (format csv, header true)", path)


def realistic_file(path: Path, seed: int = 2) -> Path:
    """`path` with the simulator's default row faults: repeated rows (in the same file) and malformed ones."""
    faults, rng = Faults(), random.Random(seed)
    out = path.with_name("shipments_2026-03-07.csv")
    with path.open(encoding="utf-8") as src, out.open("w", encoding="utf-8", newline="\n") as dst:
        dst.write(next(src))
        for line in src:
            r = rng.random()
            if r < faults.malformed_row:
                dst.write(malform_row(line, "csv", r / faults.malformed_row))
            elif r < faults.malformed_row + faults.duplicate_row:
                dst.write(line + line)
            else:
                dst.write(line)
    return out


def stored_rows(url: str, path: Path) -> tuple[Path, str]:
    """The rows the loader stored in `raw.shipments`, every column, as a CSV file; and its column list."""
    out = path.with_name("stored_shipments.csv")
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur, out.open("wb") as f:
            cur.execute("""select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute
                            where attrelid = 'raw.shipments'::regclass and attnum > 0 and not attisdropped""")
            columns = cur.fetchone()[0]
            cur.copy_expert(f"copy (select {columns} from raw.shipments) to stdout with (format csv)", f,
                            size=1 << 20)
    finally:
        conn.close()
    return out, columns


def keyed_copy(url: str, stored: tuple[Path, str]) -> float:
    """COPY the stored rows (`stored_rows`) back into the emptied `raw.shipments` (its load row stays)."""
    path, columns = stored
    execute(url, "truncate raw.shipments")
    return _timed_copy(url, "keyed COPY", f"copy raw.shipments ({columns}) from stdin with (format csv)", path)


PHASES: dict[str, list[float]] = {}


def _last_row_file(path: Path) -> Path:
    """A file delivered the day before `path`, holding only its last row."""
    with path.open("rb") as f:
        f.seek(-1000, os.SEEK_END)
        last = f.read().splitlines()[-1].decode()
    earlier = path.with_name("shipments_2026-03-05.csv")
    earlier.write_text(HEADER + last + "\n", encoding="utf-8")
    return earlier


def _load(url: str, path: Path) -> tuple[FileLoad, float, float | None]:
    """Load one file on a new connection: the result, wall seconds, CPU seconds (server and client)."""
    (ff,), _ = find_feed_files([path])
    with connect(url, autocommit=True) as conn:
        prepare_session(conn)
        server, client = backend_cpu(conn), time.process_time()
        started = time.perf_counter()
        f = load_file(conn, ff, triggered_by="bench")
        seconds = time.perf_counter() - started
        server_after = backend_cpu(conn)
    cpu = None if server is None or server_after is None else server_after - server + time.process_time() - client
    return f, seconds, cpu


def loader(url: str, path: Path, mode: str) -> float:
    """mode: new (an empty table), again (every row there already), fallback (the last row there already)
    or realistic (`path` holds the simulator's row faults; an empty table)."""
    if mode != "again":
        execute(url, "truncate raw.shipments, raw.evidence_loads, raw.evidence_quarantine")
    if mode == "fallback":
        _load(url, _last_row_file(path))
    execute(url, "checkpoint")
    f, seconds, cpu = _load(url, path)
    label = "loader" if mode == "new" else f"loader, {mode}"
    if cpu is not None:
        CPU.setdefault(label, []).append(cpu)
    n = f.rows_in_file
    if mode == "realistic":
        REALISTIC.update(rows=n, loaded=f.rows_loaded, duplicate=f.rows_duplicate, quarantined=f.rows_quarantined,
                         path=f.load_path)
    else:
        expected = {"new": (n, 0, "fast"), "again": (0, n, "merge"), "fallback": (n - 1, 1, "merge")}[mode]
        if (f.rows_loaded, f.rows_duplicate, f.load_path) != expected:
            sys.exit(f"unexpected load result: {f}")
    for phase, phase_seconds in f.phases.items():
        PHASES.setdefault(f"{mode}: {phase}", []).append(phase_seconds)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db-prefix", default="evidence_bench_", help="name prefix of the throwaway database")
    args = parser.parse_args()

    name = f"{args.db_prefix}{uuid.uuid4().hex[:8]}"
    create_database(ADMIN_URL, name)
    url = with_database(ADMIN_URL, name)
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory(prefix="bench_load_shipments_") as tmp:
            path = Path(tmp) / "shipments_2026-03-06.csv"
            started = time.perf_counter()
            write_file(path, args.rows)
            print(f"{args.rows:,} shipment rows, {path.stat().st_size / 1e6:.0f} MB, written in "
                  f"{time.perf_counter() - started:.1f} s; {os.cpu_count()} CPUs, load average "
                  f"{os.getloadavg()[0]:.1f}")
            realistic = realistic_file(path)
            timings: dict[str, list[float]] = {"bare COPY": [], "keyed COPY": [], "loader": [], "loader, again": [],
                                               "loader, fallback": [], "loader, realistic": []}
            for i in range(args.repeat):
                timings["bare COPY"].append(bare_copy(url, path))
                timings["loader"].append(loader(url, path, "new"))
                timings["keyed COPY"].append(keyed_copy(url, stored_rows(url, path)))
                timings["loader, again"].append(loader(url, path, "again"))
                timings["loader, fallback"].append(loader(url, path, "fallback"))
                timings["loader, realistic"].append(loader(url, realistic, "realistic"))
                print(f"  run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in timings.items()), flush=True)
    finally:
        drop_database(ADMIN_URL, name)

    medians = {k: statistics.median(v) for k, v in timings.items()}
    cpu = {k: statistics.median(v) for k, v in CPU.items()}
    print(f"\n{'':<18}{'median s':>10}{'rows/s':>12}{'CPU s':>8}{'rows/CPU s':>12}")
    for k, seconds in medians.items():
        print(f"{k:<18}{seconds:>10.2f}{args.rows / seconds:>12,.0f}"
              + (f"{cpu[k]:>8.2f}{args.rows / cpu[k]:>12,.0f}" if k in cpu else ""))
    print("\nloader phases, median s: " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in PHASES.items()))
    print(f"realistic file: {REALISTIC}")
    print()
    for label in ("loader", "loader, realistic"):
        for base in ("keyed COPY", "bare COPY"):
            goal = "  (goal >= 0.8)" if base == "keyed COPY" else ""
            line = f"{label} / {base} (rows per second): {medians[base] / medians[label]:.2f}{goal}"
            if label in cpu and base in cpu:
                line += f"; per CPU second: {cpu[base] / cpu[label]:.2f}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

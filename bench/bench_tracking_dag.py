"""Benchmark: the commitment_tracking DAG under a real scheduler vs a plain `dbt build`.

Same machine, same project database, same as-of date, same dbt threads. For each rendering
of the DAG (`partnerops.tracking.RENDERINGS`) Airflow is started afresh (scheduler,
dag-processor, triggerer, API server; LocalExecutor; PostgreSQL metadata database), the DAG
is triggered and its wall time measured two ways:

- `dbt part`: from the start of the first dbt task to the end of the last one, the work a
  plain `dbt build` does;
- `whole run`: from trigger to the run's end, including the TRACKING gate and `dbt docs
  generate`, which is what ops wait for.

Usage: python bench/bench_tracking_dag.py [--brands 10] [--renderings watcher,local] [--repeat 1]
Prints a Markdown table (the one in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from partnerops.agreements.sample import write_sample_corpus
from partnerops.airflow_runtime import (
    AirflowRuntimeError,
    interrupt_on_signals,
    running_airflow,
)
from partnerops.db import create_database, drop_database, throwaway_server, with_database
from partnerops.dbt import run_dbt
from partnerops.intake import run_intake
from partnerops.migrations import upgrade
from partnerops.settings import FEED_TIMEZONE, get_settings
from partnerops.tracking import DAG_ID, RENDERING_ENV, RENDERINGS, build_manifest

AS_OF = "2026-03-31"


def _timed_dbt_build(url: str, target: Path) -> float:
    started = time.monotonic()
    run_dbt(["build"], url=url, as_of=AS_OF, target_path=target, capture=True)
    return time.monotonic() - started


def _dbt_span(af, run_id: str) -> float:
    """Seconds from the first dbt task's start to the last one's end."""
    tis = af.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
    spans = [(datetime.fromisoformat(t["start_date"]), datetime.fromisoformat(t["end_date"]))
             for t in tis["task_instances"] if t["task_id"].startswith("dbt.") and t["start_date"] and t["end_date"]]
    return (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()


def _timeline(af, run_id: str) -> str:
    """Where the time went: producer, task count, launch delays (for the log, not the table)."""
    tis = af.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})["task_instances"]
    producer = next((t for t in tis if t["task_id"].endswith("dbt_producer_watcher")), None)
    delays = [(datetime.fromisoformat(t["start_date"]) - datetime.fromisoformat(t["queued_when"])).total_seconds()
              for t in tis if t.get("queued_when") and t.get("start_date")]
    busy = sum(t["duration"] or 0 for t in tis)
    return (f"{len(tis)} task instances, producer {producer['duration'] if producer else '-'} s, "
            f"task-seconds {busy:.0f}, queued->start mean {statistics.mean(delays or [0]):.1f} s, "
            f"retries {sum(1 for t in tis if (t['try_number'] or 1) > 1)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=10)
    parser.add_argument("--renderings", default="watcher,watcher_model_tasks,local",
                        help=f"comma-separated, from: {', '.join(RENDERINGS)}")
    parser.add_argument("--repeat", type=int, default=1, help="DAG runs per rendering (median reported)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one DAG run")
    args = parser.parse_args(argv)
    renderings = [r for r in args.renderings.split(",") if r]
    interrupt_on_signals()  # stop Airflow and drop the databases on Ctrl-C or kill

    with throwaway_server() as server:
        admin_url = server.admin_url
        print(server.description, file=sys.stderr)
        name = f"af_bench_{uuid.uuid4().hex[:8]}"
        create_database(admin_url, name)
        url = with_database(admin_url, name)
        with tempfile.TemporaryDirectory(prefix="af_bench_") as tmp:
            settings = replace(get_settings(), data_dir=Path(tmp) / "var")
            settings = replace(settings, agreements_inbox=settings.data_dir / "inbox")
            try:
                upgrade(url)
                corpus = write_sample_corpus(settings.data_dir / "corpus", brands=args.brands,
                                             groups=max(1, args.brands * 110 // 160), seed=2015, year=2026)
                run_intake([settings.data_dir / "corpus"], database_url=url, triggered_by="bench", settings=settings)
                manifest = build_manifest(settings, url)
                print(f"{len(corpus)} agreements; manifest {manifest}", file=sys.stderr)

                target = Path(tmp) / "dbt-target"
                _timed_dbt_build(url, target)  # first build creates the relations; time the next ones
                dbt_times = [_timed_dbt_build(url, target) for _ in range(max(2, args.repeat))]
                dbt_build = statistics.median(dbt_times)
                print(f"dbt build: {dbt_times}", file=sys.stderr)

                rows = []
                for rendering in renderings:
                    # Watcher tasks that poke (not deferrable) hold a worker slot while they wait.
                    parallelism = 8 if rendering in ("watcher", "local") else 32
                    with running_airflow(url, meta_server_url=admin_url, settings=settings, unpause_new_dags=False,
                                         parallelism=parallelism, extra_env={RENDERING_ENV: rendering}) as af:
                        dag = af.wait_for_dag(DAG_ID)
                        af.unpause(DAG_ID)
                        tasks = af.api("GET", f"/dags/{DAG_ID}/tasks")["total_entries"]
                        spans, wholes = [], []
                        for _ in range(args.repeat):
                            logical = datetime.fromisoformat(AS_OF).replace(tzinfo=ZoneInfo(FEED_TIMEZONE))
                            started = time.monotonic()
                            run_id = af.trigger(DAG_ID, logical_date=logical, conf={"as_of": AS_OF})
                            try:
                                result = af.wait_for_run(DAG_ID, run_id, timeout=args.timeout, poll=0.25)
                            except AirflowRuntimeError as exc:
                                print(f"{rendering}: {exc}", file=sys.stderr)
                                break
                            wholes.append(time.monotonic() - started)
                            if result.state != "success":
                                print(f"{rendering}: run failed: {result.failed_tasks}", file=sys.stderr)
                                break
                            spans.append(_dbt_span(af, run_id))
                            print(f"{rendering}: {_timeline(af, run_id)}", file=sys.stderr)
                        if not spans:
                            rows.append((rendering, tasks, None, None))
                            continue
                        rows.append((rendering, tasks, statistics.median(spans), statistics.median(wholes)))
                        print(f"{rendering}: {tasks} tasks, dbt part {spans}, whole {wholes} ({dag['dag_id']})",
                              file=sys.stderr)
            finally:
                drop_database(admin_url, name)

    print(f"\nDemo scale: {args.brands} brands ({len(corpus)} agreements), as of {AS_OF}, "
          f"{os.cpu_count()} CPUs, dbt threads 4.\n")
    print(f"Plain `dbt build` (same project, same database): **{dbt_build:.1f} s** (median of {len(dbt_times)})\n")
    print("| rendering | tasks | dbt part | ratio to dbt build | whole run (+ gate, docs) |")
    print("|---|---:|---:|---:|---:|")
    for rendering, tasks, span, whole in rows:
        if span is None:
            print(f"| {rendering} | {tasks} | did not finish in {args.timeout:.0f} s | | |")
            continue
        print(f"| {rendering} | {tasks} | {span:.1f} s | {span / dbt_build:.2f}x | {whole:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

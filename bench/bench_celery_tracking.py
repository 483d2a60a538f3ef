"""Benchmark: the commitment_tracking DAG's wall time, 2 Celery workers vs the LocalExecutor.

Same machine, same project database, same as-of date, same dbt manifest, same task slots:
Airflow is started afresh for each executor (`partnerops.airflow_runtime`) and the DAG is
triggered `--repeat` times, alternating executors so that a busy spell of the shared machine
hits both alike.

- `LocalExecutor`: scheduler, dag-processor, triggerer, API server; `--slots` task processes.
- `CeleryExecutor`: the same components plus two `airflow celery worker`s of `--slots / 2`
  each, each in a folder of its own (docker-compose's topology), the machine's Redis as the
  broker (a database of its own, flushed after) and the metadata database as result backend.

Reported: the run's wall time from trigger to end (what ops wait for), the dbt part (first dbt
task's start to the last one's end), and the mean delay from a task's `queued` to its start.

Usage: python bench/bench_celery_tracking.py [--brands 10] [--repeat 2] [--slots 8] [--rendering watcher]
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
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench_tracking_dag import _dbt_span

from partnerops.agreements.sample import write_sample_corpus
from partnerops.airflow_runtime import (
    COMPONENTS,
    QUICK_TIMERS,
    AirflowRuntimeError,
    celery_workers,
    claim_redis_db,
    interrupt_on_signals,
    running_airflow,
)
from partnerops.db import create_database, drop_database, throwaway_server, with_database
from partnerops.intake import run_intake
from partnerops.migrations import upgrade
from partnerops.settings import FEED_TIMEZONE, get_settings
from partnerops.tracking import DAG_ID, RENDERING_ENV, RENDERINGS, build_manifest

AS_OF = "2026-03-31"
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
WORKERS = 2


def _queue_delay(af, run_id: str) -> float:
    tis = af.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})["task_instances"]
    delays = [(datetime.fromisoformat(t["start_date"]) - datetime.fromisoformat(t["queued_when"])).total_seconds()
              for t in tis if t.get("queued_when") and t.get("start_date")]
    # A deferred task (the watcher sensors) is queued again when it resumes, after its first
    # start: only first starts count.
    return statistics.mean([d for d in delays if d >= 0] or [0.0])


def _measure(executor: str, url: str, admin_url: str, settings, tmp: Path, slots: int, timeout: float,
             rendering: str) -> tuple[float, float, float] | None:
    """One tracking run under `executor` on a fresh Airflow: (whole run, dbt part, queued->start) seconds.

    None when it did not finish within `timeout`.
    """
    with ExitStack() as stack:
        kwargs: dict = {"parallelism": slots, "components": COMPONENTS}
        if executor == "CeleryExecutor":
            broker = stack.enter_context(claim_redis_db())
            home = Path(tempfile.mkdtemp(prefix="hosts_", dir=tmp))
            kwargs = {"parallelism": slots, "worker_concurrency": slots // WORKERS, "broker_url": broker,
                      "components": (*COMPONENTS, *celery_workers(WORKERS)), "component_homes": home}
        af = stack.enter_context(running_airflow(url, meta_server_url=admin_url, settings=settings,
                                                 unpause_new_dags=False,
                                                 extra_env={**QUICK_TIMERS, RENDERING_ENV: rendering},
                                                 executor=executor, stop_timeout=10, **kwargs))
        af.wait_for_dag(DAG_ID)
        af.unpause(DAG_ID)
        logical = datetime.fromisoformat(AS_OF).replace(tzinfo=ZoneInfo(FEED_TIMEZONE))
        started = time.monotonic()
        run_id = af.trigger(DAG_ID, logical_date=logical, conf={"as_of": AS_OF})
        try:
            result = af.wait_for_run(DAG_ID, run_id, timeout=timeout, poll=0.25)
        except AirflowRuntimeError as exc:
            print(f"{executor}: {str(exc)[:300]}", file=sys.stderr)
            return None
        whole = time.monotonic() - started
        if result.state != "success":
            raise SystemExit(f"{executor}: the run failed: {result.failed_tasks}")
        return whole, _dbt_span(af, run_id), _queue_delay(af, run_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2, help="runs per executor (median reported)")
    parser.add_argument("--slots", type=int, default=8, help="task slots: LocalExecutor parallelism, "
                                                             "split evenly between the Celery workers")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one DAG run")
    parser.add_argument("--rendering", default="watcher", choices=RENDERINGS, help="the DAG's Cosmos rendering")
    args = parser.parse_args(argv)
    interrupt_on_signals()  # stop Airflow, free the Redis database and drop the databases on Ctrl-C or kill

    figures: dict[str, list[tuple[float, float, float]]] = {e: [] for e in EXECUTORS}
    with throwaway_server() as server, tempfile.TemporaryDirectory(prefix="bench_celery_") as tmp_name:
        admin_url, tmp = server.admin_url, Path(tmp_name)
        print(server.description, file=sys.stderr)
        name = f"af_bench_{uuid.uuid4().hex[:8]}"
        create_database(admin_url, name)
        url = with_database(admin_url, name)
        settings = replace(get_settings(), data_dir=tmp / "var")
        settings = replace(settings, agreements_inbox=settings.data_dir / "inbox")
        try:
            upgrade(url)
            corpus = write_sample_corpus(settings.data_dir / "corpus", brands=args.brands,
                                         groups=max(1, args.brands * 110 // 160), seed=2015, year=2026)
            run_intake([settings.data_dir / "corpus"], database_url=url, triggered_by="bench", settings=settings)
            build_manifest(settings, url)
            for i in range(args.repeat):
                for executor in EXECUTORS if i % 2 == 0 else reversed(EXECUTORS):
                    measured = _measure(executor, url, admin_url, settings, tmp, args.slots, args.timeout,
                                        args.rendering)
                    print(f"{executor}: {measured}", file=sys.stderr)
                    if measured:
                        figures[executor].append(measured)
        finally:
            drop_database(admin_url, name)

    medians = {e: [statistics.median(f[i] for f in runs) for i in range(3)] if runs else None
               for e, runs in figures.items()}
    local = medians["LocalExecutor"]
    print(f"\n{args.brands} brands ({len(corpus)} agreements), as of {AS_OF}, rendering `{args.rendering}`, "
          f"{os.cpu_count()} CPUs, {args.slots} task slots, median of {args.repeat} run(s) each.\n")
    print("| executor | whole run | ratio to LocalExecutor | dbt part | queued -> start (mean) |")
    print("|---|---:|---:|---:|---:|")
    for executor, figures_of in medians.items():
        label = executor if executor == "LocalExecutor" else f"CeleryExecutor, {WORKERS} workers"
        if figures_of is None:
            print(f"| {label} | did not finish in {args.timeout:.0f} s | | | |")
            continue
        whole, span, delay = figures_of
        ratio = f"{whole / local[0]:.2f}x" if local else "-"
        print(f"| {label} | {whole:.1f} s | {ratio} | {span:.1f} s | {delay:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Parse time of the per-agreement DAG files with 100 and with 10,000 agreements.

Writes a registry snapshot of N synthetic agreements (copies of the sample corpus's
agreements under new ids, brands and account managers) into a scratch data folder, then
parses every shard file `dags/agreements_shard_NN.py` the way Airflow's dag-processor does:
each in a fresh interpreter, through `DagBag`, timing the file's import (what Airflow's
30 s `dagbag_import_timeout` bounds). Also times the parse a task run does: the parsing
context names one DAG, and only it is built.

    python bench/bench_dag_parse.py [--sizes 100 10000] [--json]

No database is touched. Prints per-size totals, the slowest file, the task-run parse, the
ratios 10,000 / 100, and per-file times.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

from partnerops.agreement_dags import SHARDS, dag_id_for, shard_for  # noqa: E402
from partnerops.agreements.sample import write_sample_corpus  # noqa: E402
from partnerops.agreements.validate import check_file  # noqa: E402
from partnerops.registry import registry_entry, write_registry  # noqa: E402

PARSE_ONE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
started, cpu = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1])
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
tasks = sum(len(d.tasks) for d in bag.dags.values())
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "dags": len(bag.dags), "tasks": tasks,
                  "errors": {k: v[-500:] for k, v in bag.import_errors.items()}}))
"""


def synthetic_entries(n: int, seed_dir: Path) -> list[dict]:
    """N registry entries: the sample corpus's agreements, copied under new ids, brands and people."""
    corpus = write_sample_corpus(seed_dir, brands=40, groups=20, seed=11, year=2026)
    templates = [registry_entry(check_file(p).agreement) for p in corpus]
    out = []
    for i in range(n):
        entry = copy.deepcopy(templates[i % len(templates)])
        entry["agreement_id"] = f"SYN-2026-{i:05d}"
        entry["brand"] = {"id": f"SB{i:05d}", "name": f"Synthetic Brand {i:05d}"}
        entry["group"] = {"id": f"SG{i % 700:04d}", "name": f"Synthetic Group {i % 700:04d}"}
        entry["account_manager"] = {"name": f"Manager {i % 90:02d}", "email": f"am{i % 90:02d}@example.com"}
        out.append(entry)
    return out


def _env(data_dir: Path, airflow_home: Path, dag_id: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    env.update({
        "PARTNEROPS_DATA_DIR": str(data_dir),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
    })
    if dag_id:
        env["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = dag_id
        env["_AIRFLOW_PARSING_CONTEXT_TASK_ID"] = "read_marts"
    return env


def parse_file(path: Path, env: dict[str, str]) -> dict:
    run = subprocess.run([sys.executable, "-c", PARSE_ONE, str(path)], env=env, capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"parsing {path.name} failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if result["errors"]:
        raise RuntimeError(f"import errors in {path.name}: {result['errors']}")
    return result


def measure(n: int, scratch: Path, files: list[Path]) -> dict:
    data_dir, home = scratch / f"var_{n}", scratch / f"airflow_{n}"
    home.mkdir(parents=True, exist_ok=True)
    entries = synthetic_entries(n, scratch / f"seed_{n}")
    write_registry(data_dir / "registry" / "agreements.json", entries)
    env = _env(data_dir, home)
    per_file = {}
    started = time.perf_counter()
    for path in files:
        per_file[path.name] = parse_file(path, env)
        r = per_file[path.name]
        print(f"  {n:>6} agreements  {path.name}: {r['seconds']:6.2f} s wall, {r['cpu_seconds']:5.2f} s CPU "
              f"({r['dags']} DAGs, {r['tasks']} tasks; load average {os.getloadavg()[0]:.1f})", flush=True)
    wall = time.perf_counter() - started
    # A task run: the parsing context names one DAG; its shard file builds only that one.
    one = dag_id_for(entries[-1]["agreement_id"])
    shard_file = files[shard_for(one, SHARDS)]
    task_parse = parse_file(shard_file, _env(data_dir, home, one))
    assert task_parse["dags"] == 1, task_parse
    dags = sum(r["dags"] for r in per_file.values())
    assert dags == n, f"expected {n} DAGs, parsed {dags}"
    return {
        "agreements": n,
        "dags": dags,
        "tasks": sum(r["tasks"] for r in per_file.values()),
        "total_seconds": sum(r["seconds"] for r in per_file.values()),
        "max_file_seconds": max(r["seconds"] for r in per_file.values()),
        "total_cpu_seconds": sum(r["cpu_seconds"] for r in per_file.values()),
        "max_file_cpu_seconds": max(r["cpu_seconds"] for r in per_file.values()),
        "wall_seconds": wall,
        "task_run_parse_seconds": task_parse["seconds"],
        "task_run_parse_cpu_seconds": task_parse["cpu_seconds"],
        "registry_bytes": (data_dir / "registry" / "agreements.json").stat().st_size,
        "per_file_seconds": {k: round(v["seconds"], 3) for k, v in per_file.items()},
        "per_file_cpu_seconds": {k: round(v["cpu_seconds"], 3) for k, v in per_file.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    args = parser.parse_args(argv)
    files = sorted((ROOT / "dags").glob("agreements_shard_*.py"))
    if len(files) != SHARDS:
        raise SystemExit(f"expected {SHARDS} shard files in dags/, found {len(files)}")
    print(f"per-agreement DAG parse benchmark: {len(files)} shard files, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="agdag_bench_") as tmp:
        results = [measure(n, Path(tmp), files) for n in args.sizes]
    print()
    print("seconds, wall (CPU):")
    print(f"{'agreements':>10} {'DAGs':>6} {'tasks':>7} {'all files':>16} {'slowest file':>16} "
          f"{'task-run parse':>16}")
    for r in results:
        print(f"{r['agreements']:>10} {r['dags']:>6} {r['tasks']:>7} "
              f"{r['total_seconds']:>8.2f} ({r['total_cpu_seconds']:>5.2f}) "
              f"{r['max_file_seconds']:>8.2f} ({r['max_file_cpu_seconds']:>5.2f}) "
              f"{r['task_run_parse_seconds']:>8.2f} ({r['task_run_parse_cpu_seconds']:>5.2f})")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(f"ratio {b['agreements']:,} / {a['agreements']:,} (agreements x{b['agreements'] / a['agreements']:.0f}), "
              f"wall (CPU): all files x{b['total_seconds'] / a['total_seconds']:.1f} "
              f"(x{b['total_cpu_seconds'] / a['total_cpu_seconds']:.1f}), "
              f"slowest file x{b['max_file_seconds'] / a['max_file_seconds']:.1f} "
              f"(x{b['max_file_cpu_seconds'] / a['max_file_cpu_seconds']:.1f}), "
              f"task-run parse x{b['task_run_parse_seconds'] / a['task_run_parse_seconds']:.2f} "
              f"(x{b['task_run_parse_cpu_seconds'] / a['task_run_parse_cpu_seconds']:.2f}); import timeout 30 s")
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

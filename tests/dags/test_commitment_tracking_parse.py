"""The commitment_tracking DAG file: rendered from the dbt manifest, and still importable without it."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from partnerops import tracking
from partnerops.assets import EVIDENCE_FEEDS
from partnerops.settings import airflow_environ, get_settings

DAG_FILE = get_settings().dags_folder / "commitment_tracking.py"

PARSE_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("commitment_tracking")
print(json.dumps({
    "import_errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()},
    "tasks": {t.task_id: {"retries": t.retries, "outlets": [getattr(o, "name", None) for o in t.outlets],
                          "upstream": sorted(t.upstream_task_ids)} for t in dag.tasks} if dag else None,
    "doc_md": dag.doc_md if dag else None,
    "max_active_runs": dag.max_active_runs if dag else None,
    "catchup": dag.catchup if dag else None,
    "deadlines": len(dag.deadline or []) if dag else None,
    "schedule": [type(dag.timetable.asset_condition).__name__,
                 sorted(o.name for o in dag.timetable.asset_condition.objects)] if dag else None,
}))
"""


def _parse(data_dir: Path) -> dict:
    settings = replace(get_settings(), data_dir=data_dir)
    env = {**os.environ, **airflow_environ(settings, "postgresql://nobody@127.0.0.1:9/nowhere"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{data_dir / 'airflow.db'}"}
    run = subprocess.run([sys.executable, "-c", PARSE_SCRIPT, str(DAG_FILE)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def with_manifest(tmp_path_factory: pytest.TempPathFactory, install_manifest) -> dict:
    data_dir = tmp_path_factory.mktemp("var")
    manifest = install_manifest(data_dir)
    parsed = _parse(data_dir)
    nodes = json.loads(manifest.read_text())["nodes"].values()
    parsed["manifest_models"] = {n["name"] for n in nodes if n["resource_type"] == "model"}
    return parsed


def test_renders_one_watcher_build_and_a_task_per_model(with_manifest):
    assert with_manifest["import_errors"] == {}
    tasks = with_manifest["tasks"]
    assert "dbt.dbt_producer_watcher" in tasks
    rendered = {t.split(".")[1].removesuffix("_run") for t in tasks if t.startswith("dbt.") and t.endswith("run")}
    assert tracking.STATUS_MART[1] in rendered
    # Ephemeral models are compiled into others and get no task; every other model gets one.
    assert rendered <= with_manifest["manifest_models"]
    assert len(rendered) >= 10


def test_tracking_asset_is_emitted_after_the_dbt_build(with_manifest):
    publish = with_manifest["tasks"]["publish_tracking"]
    assert publish["outlets"] == ["partnerops.tracking"]
    assert any(u.startswith("dbt.") for u in publish["upstream"])
    assert any(u.startswith("dbt.") for u in with_manifest["tasks"]["generate_docs"]["upstream"])


def test_dag_settings(with_manifest):
    assert with_manifest["max_active_runs"] == 1
    assert with_manifest["catchup"] is False
    assert with_manifest["deadlines"] == 2
    kind, assets = with_manifest["schedule"]
    assert kind == "AssetAny"  # any one of intake and the evidence feeds
    assert "partnerops.agreements" in assets
    assert {a for a in assets if a.startswith("partnerops.evidence.")} == {
        f"partnerops.evidence.{feed}" for feed in EVIDENCE_FEEDS}
    assert all(t["retries"] >= 1 for t in with_manifest["tasks"].values())


def test_without_a_manifest_the_dag_still_imports_and_says_what_to_do(tmp_path: Path):
    parsed = _parse(tmp_path)
    assert parsed["import_errors"] == {}
    assert "manifest is missing" in parsed["doc_md"]
    assert "partnerops dbt-manifest" in parsed["doc_md"]
    assert set(parsed["tasks"]) == {"dbt_manifest_missing", "publish_tracking", "generate_docs"}


def test_the_dag_file_runs_quickly_as_a_script(install_manifest, tmp_path: Path):
    """`python dags/commitment_tracking.py` (imports, manifest, Cosmos rendering) costs little CPU.

    CPU time rather than wall time, so that a busy machine does not make the test flaky;
    about 2 s here, against Airflow's 30 s import timeout.
    """
    data_dir = tmp_path / "var"
    install_manifest(data_dir)
    env = {**os.environ, **airflow_environ(replace(get_settings(), data_dir=data_dir))}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run([sys.executable, str(DAG_FILE)], env=env, capture_output=True, text=True, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert run.returncode == 0, run.stderr[-2000:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 10, f"parsing the DAG file took {cpu:.1f} s of CPU"

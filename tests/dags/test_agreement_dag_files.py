"""The per-agreement shard files, parsed by Airflow's DagBag from a registry snapshot of the sample corpus.

Every agreement of the snapshot gets exactly one DAG, in the shard file its id hashes to, with
the house checks (tags, doc_md, retries). A task run's parse (Airflow's parsing context names
the DAG) builds only that DAG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from partnerops.agreement_dags import SHARDS, dag_id_for, shard_for
from partnerops.agreements.sample import write_sample_corpus
from partnerops.agreements.validate import check_file
from partnerops.registry import read_registry, registry_entry, write_registry
from partnerops.settings import airflow_environ, get_settings

PARSE_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "import_errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {"fileloc": dag.fileloc, "tags": sorted(dag.tags), "doc_md": dag.doc_md,
                 "tasks": sorted(t.task_id for t in dag.tasks), "retries": [t.retries for t in dag.tasks]}
        for dag_id, dag in bag.dags.items()
    },
}))
"""


def _parse(target: Path, env: dict[str, str]) -> dict:
    run = subprocess.run([sys.executable, "-c", PARSE_SCRIPT, str(target)], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], list[dict]]]:
    """The demo's sample corpus (160 brands, 110 groups) as a registry snapshot, and Airflow's environment."""
    settings = replace(get_settings(), data_dir=tmp_path_factory.mktemp("var"))
    corpus = write_sample_corpus(settings.data_dir / "corpus", brands=160, groups=110, seed=7, year=2026)
    write_registry(settings.registry_path, [registry_entry(check_file(p).agreement) for p in corpus])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("_AIRFLOW_PARSING_CONTEXT")},
        **airflow_environ(settings, "postgresql://nobody@127.0.0.1:9/nowhere"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{settings.data_dir / 'airflow.db'}",
    }
    yield env, read_registry(settings.registry_path)


@pytest.fixture(scope="module")
def parsed(snapshot) -> dict:
    env, _ = snapshot
    return _parse(get_settings().dags_folder, env)


def test_one_dag_per_agreement_in_its_shard_file(parsed, snapshot):
    _, entries = snapshot
    assert parsed["import_errors"] == {}
    agreement_dags = {d: v for d, v in parsed["dags"].items() if d.startswith("agreement__")}
    assert set(agreement_dags) == {dag_id_for(e["agreement_id"]) for e in entries}
    assert len(agreement_dags) == len(entries) == 160
    for dag_id, dag in agreement_dags.items():
        assert Path(dag["fileloc"]).name == f"agreements_shard_{shard_for(dag_id):02d}.py"
    files = {Path(d["fileloc"]).name for d in agreement_dags.values()}
    assert len(files) == SHARDS, "with 160 agreements every shard file defines DAGs"


def test_each_dag_shows_the_agreement(parsed, snapshot):
    _, entries = snapshot
    for entry in entries[:20]:
        dag = parsed["dags"][dag_id_for(entry["agreement_id"])]
        assert {"partnerops", "agreement", f"brand:{entry['brand']['name']}"} <= set(dag["tags"])
        assert entry["term"]["start"] in dag["doc_md"]
        assert all(r >= 1 for r in dag["retries"])
        commitment_tasks = {t for t in dag["tasks"] if "." in t}
        assert commitment_tasks == {f"{c['pillar']}.{c['id']}" for c in entry["commitments"]}
        assert {"read_marts", "scorecard", "account_manager_decision"} <= set(dag["tasks"])


def test_a_task_run_builds_only_its_own_dag(snapshot):
    env, entries = snapshot
    dag_id = dag_id_for(entries[5]["agreement_id"])
    shard_file = get_settings().dags_folder / f"agreements_shard_{shard_for(dag_id):02d}.py"
    ctx = {**env, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": dag_id, "_AIRFLOW_PARSING_CONTEXT_TASK_ID": "read_marts"}
    assert list(_parse(shard_file, ctx)["dags"]) == [dag_id]
    without = _parse(shard_file, env)["dags"]
    assert len(without) > 1

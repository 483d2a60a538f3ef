"""Every DAG file imports cleanly, is tagged, retries, and touches no database while parsed.

The DAGs are parsed in a fresh interpreter through Airflow's DagBag (which also rejects
cycles). The project database URL points at a TCP listener started by the test, which
counts connection attempts: parsing must make none.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from partnerops.agreements.sample import write_sample_corpus
from partnerops.agreements.validate import check_file
from partnerops.assets import EVIDENCE_FEEDS
from partnerops.registry import registry_entry, write_registry
from partnerops.settings import airflow_environ, get_settings

PARSE_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "import_errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "tags": sorted(dag.tags),
            "fileloc": dag.fileloc,
            "doc_md": bool(dag.doc_md),
            "retries": {t.task_id: t.retries for t in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


class ConnectionCounter:
    """A localhost TCP listener that accepts and counts connections, then drops them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            conn.close()


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory, install_manifest) -> Iterator[tuple[dict, ConnectionCounter]]:
    settings = replace(get_settings(), data_dir=tmp_path_factory.mktemp("var"))
    # A registry snapshot, so that DAGs generated from it are parsed too.
    corpus = write_sample_corpus(settings.data_dir / "corpus", brands=3, groups=2, seed=1, year=2026)
    write_registry(settings.registry_path, [registry_entry(check_file(p).agreement) for p in corpus])
    # The dbt manifest, so that commitment_tracking is parsed with its Cosmos-rendered tasks.
    install_manifest(settings.data_dir)
    counter = ConnectionCounter()
    env = {
        **os.environ,
        **airflow_environ(settings, f"postgresql://nobody@127.0.0.1:{counter.port}/nowhere"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{settings.data_dir / 'airflow.db'}",
    }
    run = subprocess.run([sys.executable, "-c", PARSE_SCRIPT, str(settings.dags_folder)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    yield json.loads(run.stdout.strip().splitlines()[-1]), counter
    counter.sock.close()


def test_every_dag_file_imports_without_errors(parsed):
    result, _ = parsed
    assert result["import_errors"] == {}
    dag_files = {Path(d["fileloc"]).name for d in result["dags"].values()}
    # A per-agreement shard file defines only the agreements that hash to it, so with a small
    # registry some define none; tests/dags/test_agreement_dags.py checks them.
    expected = {p.name for p in get_settings().dags_folder.glob("*.py")
                if not p.name.startswith("_") and not p.name.startswith("agreements_shard_")}
    assert expected <= dag_files, f"DAG files that define no DAG: {expected - dag_files}"


#: Tasks that fail at once by design: an evidence inbox check reports paths the load could not
#: take, and a retry would see the same paths (the on-call address hears at the first failure).
NOT_RETRIED = {f"check_{feed}_inbox" for feed in EVIDENCE_FEEDS}


def test_every_dag_has_tags_docs_and_retries(parsed):
    result, _ = parsed
    assert result["dags"], "no DAGs were found"
    for dag_id, dag in result["dags"].items():
        assert "partnerops" in dag["tags"], dag_id
        assert dag["doc_md"], f"{dag_id} has no doc_md"
        without = {task_id for task_id, retries in dag["retries"].items() if retries < 1}
        assert without <= NOT_RETRIED, f"{dag_id} has tasks without retries: {sorted(without - NOT_RETRIED)}"


def test_parsing_makes_no_database_connection(parsed):
    _, counter = parsed
    assert counter.count == 0

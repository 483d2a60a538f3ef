"""The evidence DAGs: one per pillar plus orders and attestations, thin tasks, an Asset event with counts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from partnerops.assets import EVIDENCE, EVIDENCE_FEEDS
from partnerops.errors import UserError
from partnerops.evidence.load import load_delivered
from partnerops.evidence.simulate import agreements_from_sample, simulate
from partnerops.settings import get_settings

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "evidence_feeds.py"


@pytest.fixture(scope="module")
def dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert not bag.import_errors
    return bag.dags


def test_one_dag_per_pillar_plus_orders_covers_every_feed_once(dags):
    assert set(dags) == {"evidence_orders", "evidence_logistics", "evidence_marketing", "evidence_channel",
                         "evidence_data_operations", "evidence_attestations"}
    loaded = [task.task_id.removeprefix("load_") for d in dags.values() for task in d.tasks
              if task.task_id.startswith("load_")]
    assert sorted(loaded) == sorted(EVIDENCE_FEEDS)
    checks = sorted(task.task_id for d in dags.values() for task in d.tasks if not task.task_id.startswith("load_"))
    assert checks == sorted(f"check_{feed}_inbox" for feed in EVIDENCE_FEEDS)


def test_dag_settings(dags):
    for dag in dags.values():
        assert dag.catchup is False and dag.max_active_runs == 1
        assert dag.doc_md and "evidence" in dag.tags
        for task in dag.tasks:
            if task.task_id.startswith("load_"):
                assert task.retries == 2
                assert task.outlets == [EVIDENCE[task.task_id.removeprefix("load_")]]
            else:  # the inbox check: a path that cannot be loaded stays so on a retry
                assert task.retries == 0 and task.upstream_task_ids == {task.task_id.replace("check_", "load_")
                                                                        .removesuffix("_inbox")}


@pytest.fixture
def inbox(project_env: Path) -> Path:
    """Two business days of evidence for the sample agreements, delivered into the inbox."""
    simulate(agreements_from_sample(brands=20, groups=10), out=get_settings().evidence_inbox,
             start=date(2026, 5, 11), end=date(2026, 5, 12), scale=0.002)
    return get_settings().evidence_inbox


def test_load_delivered_loads_what_has_arrived_once(inbox):
    first = load_delivered("orders", today=date(2026, 5, 12))
    assert first["files"] == 1 and first["rows_loaded"] > 0
    assert (first["min_business_date"], first["max_business_date"]) == ("2026-05-11", "2026-05-11")
    assert load_delivered("orders", today=date(2026, 5, 12))["files"] == 0  # nothing new
    later = load_delivered("orders", today=date(2026, 5, 30))
    assert later["files"] >= 1 and later["max_business_date"] == "2026-05-12"


def test_the_task_emits_the_counts_or_skips(dags, inbox, monkeypatch):
    task = dags["evidence_logistics"].get_task("load_shipments")
    asset = EVIDENCE["shipments"]
    events = {asset: SimpleNamespace(extra=None)}
    totals = task.python_callable(outlet_events=events)
    assert totals["files"] >= 1 and events[asset].extra == totals
    assert events[asset].extra["rows_in_file"] == (totals["rows_loaded"] + totals["rows_duplicate"]
                                                   + totals["rows_quarantined"])
    with pytest.raises(AirflowSkipException):
        task.python_callable(outlet_events=events)


def test_a_path_that_cannot_be_loaded_fails_the_check_after_the_good_files_load(dags, inbox):
    (inbox / "shipments" / "shipments_2026-05-12.9.csv").mkdir(parents=True)  # a folder named like a feed file
    dag = dags["evidence_logistics"]
    asset = EVIDENCE["shipments"]
    events = {asset: SimpleNamespace(extra=None)}
    totals = dag.get_task("load_shipments").python_callable(outlet_events=events)
    assert totals["files"] >= 1 and totals["rows_loaded"] > 0 and events[asset].extra == totals
    assert [line.split(": ")[0] for line in totals["not_loaded"]] == [str(inbox / "shipments" /
                                                                          "shipments_2026-05-12.9.csv")]
    with pytest.raises(UserError, match=r"1 path\(s\) in the shipments inbox could not be loaded"):
        dag.get_task("check_shipments_inbox").python_callable(totals)
    # Nothing new but the folder: the load reports it again instead of skipping, and the check fails again.
    again = dag.get_task("load_shipments").python_callable(outlet_events=events)
    assert again["files"] == 0 and len(again["not_loaded"]) == 1
    with pytest.raises(UserError):
        dag.get_task("check_shipments_inbox").python_callable(again)
    dag.get_task("check_shipments_inbox").python_callable({"feed": "shipments", "not_loaded": []})

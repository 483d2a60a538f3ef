"""Session fixtures for integration tests that need Airflow running for real.

`airflow_runtime` starts the scheduler, dag-processor, triggerer and API server once per
session (`partnerops.airflow_runtime`), on a throwaway PostgreSQL metadata database and a
throwaway project database (`af_proj_*`) holding the sample agreements, with the dbt
manifest built into a temporary data folder. Everything is stopped and dropped at the end.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from partnerops.agreements.sample import write_sample_corpus
from partnerops.airflow_runtime import AirflowRuntime, running_airflow
from partnerops.db import create_database, drop_database, with_database
from partnerops.intake import run_intake
from partnerops.migrations import upgrade
from partnerops.settings import Settings, get_settings
from partnerops.tracking import build_manifest

ADMIN_URL = os.environ.get("PARTNEROPS_TEST_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
SAMPLE_BRANDS = 10


@dataclass(frozen=True)
class TrackingProject:
    """A project database with the sample agreements taken in, and a data folder with the manifest."""

    url: str
    settings: Settings


@pytest.fixture(scope="session")
def tracking_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingProject]:
    settings = replace(get_settings(), data_dir=tmp_path_factory.mktemp("var"))
    settings = replace(settings, agreements_inbox=settings.data_dir / "inbox" / "agreements")
    name = f"af_proj_{uuid.uuid4().hex[:10]}"
    create_database(ADMIN_URL, name)
    url = with_database(ADMIN_URL, name)
    try:
        upgrade(url)
        corpus = write_sample_corpus(settings.data_dir / "corpus", brands=SAMPLE_BRANDS, groups=8, seed=2015,
                                     year=2026)
        report = run_intake([p.parent for p in corpus[:1]], database_url=url, triggered_by="test",
                            settings=settings)
        assert report.count("loaded") == len(corpus), report.summary()
        build_manifest(settings, url)
        yield TrackingProject(url=url, settings=settings)
    finally:
        drop_database(ADMIN_URL, name)


@pytest.fixture(scope="session")
def airflow_runtime(tracking_project: TrackingProject) -> Iterator[AirflowRuntime]:
    """Airflow with a real scheduler on the tracking project; DAGs start paused (unpause what you run)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with running_airflow(tracking_project.url, meta_server_url=ADMIN_URL, settings=tracking_project.settings,
                         unpause_new_dags=False) as runtime:
        yield runtime


def component_logs(runtime: AirflowRuntime) -> str:
    """The last lines of every component's output, for assertion messages."""
    return "\n".join(f"--- {name}\n{runtime.tail(name, 15)}" for name in runtime.processes)


__all__ = ["TrackingProject", "component_logs", "Path"]

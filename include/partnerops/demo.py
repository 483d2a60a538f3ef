"""`make demo`: the main job end to end, on the embedded database unless one is configured.

Each step prints what it did and where to look. Steps are added here as the system grows;
each one calls the same package function that the CLI and the DAGs use.
"""

from __future__ import annotations

import time

from partnerops.agreements.sample import write_sample_corpus
from partnerops.db import database_url, describe, stop_embedded
from partnerops.intake import run_intake
from partnerops.migrations import upgrade
from partnerops.settings import get_settings


def _step(title: str) -> float:
    print(f"\n== {title}")
    return time.monotonic()


def run_demo(*, full_scale: bool = False) -> int:
    settings = get_settings()
    started = time.monotonic()
    try:
        _step("Database")
        embedded = settings.database_url is None
        url = database_url(settings)
        upgrade(url)
        print(f"{'embedded PostgreSQL under ' + str(settings.embedded_pgdata) if embedded else describe(url)}"
              " (schema migrations applied)")

        _step("Sample agreements for the reference scenario (160 brands, 110 groups, 30 bn CNY)")
        corpus = settings.data_dir / "demo" / "agreements"
        files = write_sample_corpus(corpus, brands=160, groups=110, seed=2015, year=2026)
        print(f"wrote {len(files)} agreement files to {corpus}")

        _step("Intake")
        report = run_intake([corpus], database_url=url, triggered_by="demo", settings=settings)
        print(report.summary())
        print(f"registry snapshot for the DAGs: {report.registry_path}")

        _step("dbt manifest for the commitment_tracking DAG (partnerops dbt-manifest)")
        from partnerops.tracking import build_manifest

        print(f"Airflow renders one task per dbt model from {build_manifest(settings, url)}")

        _step("Evidence: the feeds from the terms' start simulated for the agreements and loaded "
              "(partnerops simulate / load)")
        from partnerops.evidence.demo import simulate_and_load

        simulate_and_load(url, settings=settings, full_scale=full_scale)

        _step("Commitment tracking: statuses of both sides as of today (dbt build; partnerops status)")
        from partnerops.status import demo_tracking

        demo_tracking(url)

        _step("SLA alerts the scenario raised (partnerops alerts; docs/alerts.md)")
        from partnerops.alerts.demo import demo_alerts

        demo_alerts(url, settings)

        _step("The Airflow UI on the demo data (make serve / partnerops serve)")
        from partnerops.agreement_dags import ui_guide
        from partnerops.airflow_runtime import ADMIN_USER, ensure_admin_password

        print("start it with `make serve` (or `partnerops serve --port PORT`), then open http://localhost:8080")
        print(f"login: {ADMIN_USER} / {ensure_admin_password(settings)}")
        print(ui_guide("http://localhost:8080", settings.registry_path))
        print("Partnerships view (portfolio, attention queue, agreements, groups): "
              "http://localhost:8080/plugin/partnerships")
        print("dbt docs inside Airflow (Browse > dbt docs): http://localhost:8080/plugin/dbt-docs")
    finally:
        stop_embedded()
    print(f"\nDone in {time.monotonic() - started:.1f} s.")
    return 0

"""Session fixtures for integration tests that need Airflow running for real.

`airflow_runtime` starts the scheduler, dag-processor, triggerer and API server once per
session (`partnerops.airflow_runtime`), on a throwaway PostgreSQL metadata database and a
throwaway project database (`af_proj_*`) holding the sample agreements, with the dbt
manifest in a temporary data folder. Everything is stopped and dropped at the end.

Airflow's metadata schema is migrated once per session (`airflow_meta_template`); every
metadata database of the run is a clone of it. The runtime uses `QUICK_TIMERS`: retries
after a second, DAG files parsed once.

`tracked` is the one commitment_tracking run the tests share: as of `AS_OF`, a fixed date,
with every evidence feed fresh and empty up to the day before (so missing evidence reads as
at risk or breached, not insufficient data), and with `sla_alerts` following its Asset.
`agreement_run` is the one per-agreement run they share, with a waiver answered during it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import agreement_runs
import psycopg2
import pytest
from agreement_runs import mark_feeds_fresh

from partnerops import agreement_dags as ad
from partnerops import tracking
from partnerops.agreements.sample import write_sample_corpus
from partnerops.airflow_runtime import QUICK_TIMERS, AirflowRuntime, DagRunResult, migrated_template, running_airflow
from partnerops.db import create_database, drop_database, with_database
from partnerops.dbt import run_dbt
from partnerops.intake import run_intake
from partnerops.migrations import upgrade
from partnerops.registry import read_registry
from partnerops.settings import FEED_TIMEZONE, Settings, get_settings

SAMPLE_BRANDS = 10
#: The as-of date of the shared tracking run. Fixed: no test depends on today's date.
AS_OF = date(2026, 11, 30)
ALERTS_DAG_ID = "sla_alerts"


@dataclass(frozen=True)
class TrackingProject:
    """A project database with the sample agreements taken in, and a data folder with the manifest."""

    url: str
    settings: Settings


@dataclass(frozen=True)
class Tracked:
    """The shared commitment_tracking run, and the sla_alerts run its Asset event started."""

    as_of: str
    run: DagRunResult
    alerts_run: dict
    alerts_reports: list[dict]


@pytest.fixture(scope="session")
def airflow_meta_template(admin_url: str, airflow_template_name: str, tmp_path_factory: pytest.TempPathFactory
                          ) -> str:
    """A migrated Airflow metadata database; every metadata database of the run is cloned from it.

    One per run, shared by the xdist workers (its name follows the run's role prefix): the
    first worker to need it migrates it, holding a lock on the server, and the others wait for
    it. The run drops it at its end, with its roles (tests/conftest.py `drop_run_leftovers`).
    """
    name = airflow_template_name
    conn = psycopg2.connect(with_database(admin_url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(hashtext(%s))", (name,))
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                settings = replace(get_settings(), data_dir=tmp_path_factory.mktemp("af_template"))
                try:
                    migrated_template(admin_url, name, settings=settings)
                except BaseException:
                    drop_database(admin_url, name)  # half migrated: no other worker may clone it
                    raise
    finally:
        conn.close()  # and with it the lock
    return name


@pytest.fixture(scope="session")
def tracking_project(admin_url: str, install_manifest, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[TrackingProject]:
    settings = replace(get_settings(), data_dir=tmp_path_factory.mktemp("var"))
    settings = replace(settings, agreements_inbox=settings.data_dir / "inbox" / "agreements")
    name = f"af_proj_{uuid.uuid4().hex[:10]}"
    create_database(admin_url, name)
    url = with_database(admin_url, name)
    try:
        upgrade(url)
        corpus = write_sample_corpus(settings.data_dir / "corpus", brands=SAMPLE_BRANDS, groups=8, seed=2015,
                                     year=2026)
        report = run_intake([p.parent for p in corpus[:1]], database_url=url, triggered_by="test",
                            settings=settings)
        assert report.count("loaded") == len(corpus), report.summary()
        mark_feeds_fresh(url, AS_OF)
        install_manifest(settings.data_dir)
        yield TrackingProject(url=url, settings=settings)
    finally:
        drop_database(admin_url, name)


@pytest.fixture(scope="session")
def airflow_runtime(tracking_project: TrackingProject, admin_url: str, airflow_meta_template: str
                    ) -> Iterator[AirflowRuntime]:
    """Airflow with a real scheduler on the tracking project; DAGs start paused (unpause what you run).

    As in a deployment, the project database is the connection `partnerops_db` in Airflow's
    metadata database, and nowhere in the components' environment.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with running_airflow(tracking_project.url, meta_server_url=admin_url, meta_template=airflow_meta_template,
                         settings=tracking_project.settings, unpause_new_dags=False,
                         extra_env=QUICK_TIMERS, stop_timeout=5, connection_in_metadata=True) as runtime:
        yield runtime


def alerts_reports(af: AirflowRuntime, run_id: str) -> list[dict]:
    """What the sla_alerts run's task returned: one report per as-of date ([] until it has)."""
    try:
        entry = af.api("GET", f"/dags/{ALERTS_DAG_ID}/dagRuns/{run_id}/taskInstances/send_alerts/"
                              "xcomEntries/return_value")
    except Exception:  # no XCom (yet)
        return []
    value = entry.get("value")
    return json.loads(value) if isinstance(value, str) else value or []


def run_tracking(af: AirflowRuntime, as_of: str, *, logical_date: datetime | None = None) -> DagRunResult:
    """One commitment_tracking run as of `as_of`; asserts it succeeded."""
    af.wait_for_dag(tracking.DAG_ID)
    af.unpause(tracking.DAG_ID)
    run_id = af.trigger(tracking.DAG_ID, logical_date=logical_date, conf={"as_of": as_of})
    result = af.wait_for_run(tracking.DAG_ID, run_id, timeout=900)
    assert result.state == "success", f"failed tasks: {result.failed_tasks}"
    return result


@pytest.fixture(scope="session")
def tracked(airflow_runtime: AirflowRuntime) -> Tracked:
    """The shared tracking run as of AS_OF (logical date: its midnight), and the alerts run it started.

    sla_alerts is unpaused only until that alerts run has finished, so later tracking runs start none.
    """
    af, as_of = airflow_runtime, AS_OF.isoformat()
    af.wait_for_dag(ALERTS_DAG_ID)
    af.unpause(ALERTS_DAG_ID)
    try:
        logical = datetime.combine(AS_OF, datetime.min.time(), ZoneInfo(FEED_TIMEZONE))
        run = run_tracking(af, as_of, logical_date=logical)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for alerts_run in af.api("GET", f"/dags/{ALERTS_DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]:
                if alerts_run["state"] in ("success", "failed"):
                    reports = alerts_reports(af, alerts_run["dag_run_id"])
                    if alerts_run["state"] == "failed" or any(r["as_of"] == as_of for r in reports):
                        return Tracked(as_of=as_of, run=run, alerts_run=alerts_run, alerts_reports=reports)
            time.sleep(2)
        raise AssertionError(f"no {ALERTS_DAG_ID} run for {as_of} within 300 s of the tracking run")
    finally:
        af.api("PATCH", f"/dags/{ALERTS_DAG_ID}", json={"is_paused": True})


def component_logs(runtime: AirflowRuntime) -> str:
    """The last lines of every component's output, for assertion messages."""
    return "\n".join(f"--- {name}\n{runtime.tail(name, 15)}" for name in runtime.processes)


#: How long the shared agreement run waits for decisions: long enough to see its at-risk
#: commitments wait (deferred) and to answer a Required Action before it closes.
DECISION_WINDOW_MINUTES = 1


@dataclass(frozen=True)
class AgreementRun:
    """The shared per-agreement run and what happened around it (see `agreement_run`)."""

    entry: dict
    dag_id: str
    expected_status: dict[str, str]
    live: dict[str, str | None]
    decision_task_count: int
    result: DagRunResult
    final: dict[str, str | None]
    waived_commitment: str
    waived_instances: set[str]
    decision_state: str
    next_run: DagRunResult
    overlapping_run: DagRunResult
    first_run_state_while_overlapping_ran: str
    account_manager: str
    assigned_users: list[dict]
    other_account_manager: str
    refused: tuple[int, str]


def _pick_agreement(url: str, as_of: str, entries: list[dict]) -> tuple[dict, str, set[str]]:
    """The agreement whose commitments show the most different task states, among those with a
    breached commitment whose open instances all await a decision (waiving it turns it green);
    that commitment, and its instances."""
    rows = agreement_runs.instances(url, as_of)
    candidates = []
    for entry in entries:
        mine = [r for r in rows if r[0] == entry["agreement_id"]]
        waivable = {}
        for c in entry["commitments"]:
            live = [r for r in mine if r[1] == c["id"] and r[3] != "superseded"]
            if live and all(r[3] in ad.DECISION_STATUSES for r in live) and any(r[3] == "breached" for r in live):
                waivable[c["id"]] = {r[2] for r in live}
        if waivable:
            states = {ad.task_state_for(s) for s in agreement_runs.mart_statuses(url, entry["agreement_id"],
                                                                                    as_of).values()}
            commitment = sorted(waivable)[0]
            candidates.append((-len(states), entry["agreement_id"], entry, commitment, waivable[commitment]))
    assert candidates, f"no sample agreement has a breached commitment to waive as of {as_of}"
    _, _, entry, commitment, instance_ids = min(candidates, key=lambda c: c[:2])
    return entry, commitment, instance_ids


def _record_decisions_on(url: str, agreement_id: str, commitment_id: str, day: date) -> None:
    noon = datetime.combine(day, datetime.min.time(), ZoneInfo(FEED_TIMEZONE)) + timedelta(hours=12)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""update raw.commitment_decisions set recorded_at = %s
                        where agreement_id = %s and commitment_id = %s""", (noon, agreement_id, commitment_id))
        assert cur.rowcount > 0, "no decision was recorded"
    conn.close()


@pytest.fixture(scope="session")
def agreement_run(airflow_runtime: AirflowRuntime, tracking_project: TrackingProject, tracked: Tracked,
                  tmp_path_factory: pytest.TempPathFactory) -> AgreementRun:
    """One agreement's DAG run as of the shared date, with an account manager's waiver, and the run after it.

    1. The run is triggered by hand with a decision window of DECISION_WINDOW_MINUTES; once
       every commitment task has settled (at-risk ones deferred), their states are read.
    2. The Required Action about a breached commitment is answered through the REST API as the
       UI does: first by another account manager (refused), then by the agreement's own account
       manager (Waive, with a comment), each logged in as themselves.
    3. While the window is still open, commitment tracking is computed again for the same date:
       the `dbt build` the tracking DAG runs (the DAG itself is tested by `tracked`), with the
       decision dated to that day.
    4. Once the first run has ended, the agreement's next run is triggered for the same date.
    Between 1 and 2, while the first run waits for the decision, another run is triggered: it
    starts at once (an open decision blocks no run).
    """
    af, url, as_of = airflow_runtime, tracking_project.url, tracked.as_of
    entries = read_registry(tracking_project.settings.registry_path)
    entry, commitment_id, instance_ids = _pick_agreement(url, as_of, entries)
    expected_status = {c["id"]: "not_listed" for c in entry["commitments"]}
    expected_status.update(agreement_runs.mart_statuses(url, entry["agreement_id"], as_of))
    dag_id = ad.dag_id_for(entry["agreement_id"])
    af.wait_for_dag(dag_id)
    af.unpause(dag_id)
    try:
        run_id = af.trigger(dag_id, conf={"as_of": as_of, "decision_window_minutes": DECISION_WINDOW_MINUTES})
        live = agreement_runs.wait_until(
            lambda: (s := agreement_runs.commitment_task_states(af, dag_id, run_id, entry))
            and all(v in agreement_runs.SETTLED for v in s.values()) and s,
            timeout=300, what="every commitment task to settle")
        decision_task_count = len(agreement_runs.decision_tasks(af, dag_id, run_id))

        map_index = agreement_runs.wait_until(
            lambda: agreement_runs.awaiting_decision_on(af, dag_id, run_id, commitment_id), timeout=120,
            what=f"a Required Action for {commitment_id}")
        agreement_runs.wait_until_the_asking_attempt_has_ended(af, dag_id, run_id, map_index)
        # While this run waits for the decision, a new tracking event's run starts all the same.
        overlap_id = af.trigger(dag_id, conf={"as_of": as_of, "decision_window_minutes": 0})
        agreement_runs.wait_until(lambda: af.api("GET", f"/dags/{dag_id}/dagRuns/{overlap_id}")["state"] != "queued",
                                  timeout=120, what="the overlapping run to start")
        first_state = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
        detail = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/{map_index}/hitlDetails"
        assigned = af.api("GET", detail)["assigned_users"]
        waiver = {"chosen_options": ["Waive"], "params_input": {"comment": agreement_runs.WAIVER_COMMENT}}
        manager = entry["account_manager"]["email"].lower()
        other = min(login for login in af.people if login != manager)
        refusal = af.api_as(af.token_for(other, af.people[other]), "PATCH", detail, json=waiver)
        answer = af.api_as(af.token_for(manager, af.people[manager]), "PATCH", detail, json=waiver)
        assert answer.status_code == 200, answer.text

        def decision_state() -> str | None:
            state = next(t["state"] for t in agreement_runs.decision_tasks(af, dag_id, run_id)
                         if t["map_index"] == map_index)
            return state if state in ("success", "failed") else None

        decided = agreement_runs.wait_until(decision_state, timeout=300, what="the decision task to resume")
        # A decision counts from when it was recorded, as evidence does from when it arrived. It
        # was recorded just now; the statuses are computed as of the fixed date: date it to that day.
        _record_decisions_on(url, entry["agreement_id"], commitment_id, AS_OF)
        run_dbt(["build", "--quiet"], as_of=as_of, url=url, target_path=tmp_path_factory.mktemp("retrack"),
                capture=True)
        result = af.wait_for_run(dag_id, run_id, timeout=600)
        final = agreement_runs.commitment_task_states(af, dag_id, run_id, entry)
        overlapping_run = af.wait_for_run(dag_id, overlap_id, timeout=600)
        next_id = af.trigger(dag_id, conf={"as_of": as_of, "decision_window_minutes": 0})
        next_run = af.wait_for_run(dag_id, next_id, timeout=600)
    finally:
        af.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    return AgreementRun(entry=entry, dag_id=dag_id, expected_status=expected_status, live=live,
                        decision_task_count=decision_task_count, result=result, final=final,
                        waived_commitment=commitment_id, waived_instances=instance_ids, decision_state=decided,
                        next_run=next_run, overlapping_run=overlapping_run,
                        first_run_state_while_overlapping_ran=first_state, account_manager=manager,
                        assigned_users=assigned, other_account_manager=other,
                        refused=(refusal.status_code, refusal.text))

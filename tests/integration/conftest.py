"""Session fixtures for integration tests that need Airflow running for real.

`airflow_runtime` is the deployed topology (docker-compose.yml), once per session, minus the
containers: `api-server`, `scheduler`, `dag-processor`, `triggerer` and two `airflow celery
worker`s (CeleryExecutor), each a process in a folder of its own (its cwd and AIRFLOW_HOME),
sharing only the databases, a Redis database as the broker (`claim_redis_db`) and the project's
data folder. The login is the deployment's: the FAB auth manager, with `admin` set by
`partnerops admin-password` before the components start (compose's `airflow-init`). Tasks reach
the project database only through the connection `partnerops_db` in the metadata database, and
send their alerts to a real SMTP server (`smtp`). Everything is stopped and dropped at the end.

Airflow's metadata schema is migrated once per session (`airflow_meta_template`); every
metadata database of the run is a clone of it. The runtime uses `QUICK_TIMERS` and
`CELERY_QUICK_TIMERS`: retries after a second, a dead worker's task noticed in seconds.

The main job then runs through the scheduler, each step a session fixture:
- `delivered`: the sample agreements in the agreements inbox, taken in by `agreements_intake`
  (which writes the registry snapshot the agreement DAGs are built from), then intake once
  more on the same inbox; the people synced with `partnerops users sync` (twice); two days of
  evidence (`AS_OF` - 2 and - 1) simulated into the evidence inbox and loaded by the six
  evidence DAGs, side by side on the two workers. Every feed is fresh and complete before
  that and empty (`mark_feeds_fresh`), so missing evidence reads as at risk or breached, not
  insufficient data.
- `tracked`: the one commitment_tracking run the tests share, as of `AS_OF`, a fixed date. Its
  Asset event starts `sla_alerts` and one agreement's DAG. While `sla_alerts` is sending, the
  SMTP server holds a message back and the worker running the task is killed with SIGKILL, all
  its processes with it (as when its host dies); it is started again, as an ops team would.
- `agreement_run`: the one per-agreement run the tests share, with a waiver answered during it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import agreement_runs
import psycopg2
import pytest
from agreement_runs import mark_feeds_fresh
from browser import required_action_form
from fab_login import OPS_LEAD, VIEWER, partnerops_cli, prepare_fab, write_people
from smtp_sink import HELD_MESSAGE, HoldingSmtp, holding_smtp

from partnerops import agreement_dags as ad
from partnerops import tracking
from partnerops.agreements.sample import write_sample_corpus
from partnerops.airflow_runtime import (
    CELERY_QUICK_TIMERS,
    COMPONENTS,
    QUICK_TIMERS,
    AirflowRuntime,
    DagRunResult,
    celery_workers,
    claim_redis_db,
    migrated_template,
    running_airflow,
)
from partnerops.db import create_database, drop_database, with_database
from partnerops.dbt import run_dbt
from partnerops.evidence.simulate import agreements_from_database, simulate
from partnerops.migrations import upgrade
from partnerops.registry import read_registry
from partnerops.settings import FAB_AUTH_MANAGER, FEED_TIMEZONE, Settings, get_settings
from partnerops.tracking import RENDERING_ENV

SAMPLE_BRANDS = 10



#: The as-of date of the shared tracking run. Fixed: no test depends on today's date.
AS_OF = date(2026, 11, 30)
ALERTS_DAG_ID = "sla_alerts"
EVIDENCE_DAGS = ("evidence_orders", "evidence_logistics", "evidence_marketing", "evidence_channel",
                 "evidence_data_operations", "evidence_attestations")
WORKERS = celery_workers(2)
#: How many agreements' DAGs the tracking run's Asset event starts (the others stay paused:
#: each run is a dozen task processes).
ASSET_TRIGGERED_AGREEMENTS = 1


@dataclass(frozen=True)
class TrackingProject:
    """A migrated project database, and a data folder with the dbt manifest and the agreements inbox filled."""

    url: str
    settings: Settings


@dataclass(frozen=True)
class Delivered:
    """The inputs, taken in by their DAGs (see `delivered`)."""

    entries: list[dict]
    agreement_files: int
    #: intake run again on the same inbox
    second_intake_run: DagRunResult
    evidence_runs: dict[str, dict]
    #: login -> password of the people synced: every account manager but one, OPS_LEAD and VIEWER
    passwords: dict[str, str]
    #: the one account manager left out of the people file
    account_manager_without_login: str
    #: `partnerops users sync`, run twice
    first_sync: subprocess.CompletedProcess[str]
    second_sync: subprocess.CompletedProcess[str]
    #: the Celery workers seen running the evidence DAGs' tasks
    evidence_workers: set[str]


@dataclass(frozen=True)
class Tracked:
    """The shared commitment_tracking run, the sla_alerts run its Asset event started, and the killed worker."""

    as_of: str
    run: DagRunResult
    alerts_run: dict
    alerts_reports: list[dict]
    killed_worker: str
    killed_try: int
    delivered_before_kill: int
    agreement_runs: dict[str, DagRunResult]
    #: dag_id -> {commitment_id: status} in the marts when those runs ended
    agreement_statuses: dict[str, dict[str, str]]


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
                    # with FAB's tables: the shared runtime logs in through FAB, the others ignore them
                    migrated_template(admin_url, name, settings=settings,
                                      extra_env={"AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER})
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
        write_sample_corpus(settings.agreements_inbox, brands=SAMPLE_BRANDS, groups=8, seed=2015, year=2026)
        install_manifest(settings.data_dir)
        yield TrackingProject(url=url, settings=settings)
    finally:
        drop_database(admin_url, name)


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[HoldingSmtp, str]]:
    """The SMTP server the shared Airflow sends alerts to (it holds back the HELD_MESSAGE-th); its URL."""
    with holding_smtp(hold=HELD_MESSAGE) as server:
        yield server


@pytest.fixture(scope="session")
def airflow_runtime(tracking_project: TrackingProject, admin_url: str, airflow_meta_template: str, smtp,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowRuntime]:
    """The deployed topology on the tracking project (see the module docstring); DAGs start paused.

    As in a deployment, the project database is the connection `partnerops_db` in Airflow's
    metadata database, and nowhere in the components' environment.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)
    extra = {**QUICK_TIMERS, **CELERY_QUICK_TIMERS,
             # one polling watcher per model instead of the default's deferrable `.run` and `.test`
             # tasks: 43 task processes instead of about 160 (each deferrable watcher starts twice),
             # which makes this shared run fit the suite's time. The default rendering runs in the
             # benchmarks (bench/bench_tracking_dag.py, bench/bench_celery_tracking.py).
             RENDERING_ENV: "watcher_model_tasks",
             "PARTNEROPS_SMTP_URL": smtp[1],
             "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER}
    with claim_redis_db() as broker, running_airflow(
            tracking_project.url, meta_server_url=admin_url, meta_template=airflow_meta_template,
            settings=tracking_project.settings, components=(*COMPONENTS, *WORKERS), unpause_new_dags=False,
            parallelism=8, worker_concurrency=4, extra_env=extra, stop_timeout=5, executor="CeleryExecutor",
            broker_url=broker, component_homes=tmp_path_factory.mktemp("hosts"), connection_in_metadata=True,
            before_start=prepare_fab) as runtime:
        yield runtime


def dag_runs(af: AirflowRuntime, dag_id: str) -> list[dict]:
    return af.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]


def first_run_done(af: AirflowRuntime, dag_id: str, timeout: float = 400) -> None:
    """Unpause `dag_id` (the scheduler starts its latest interval at once), wait for that run's end, pause it."""
    af.wait_for_dag(dag_id)
    af.unpause(dag_id)
    run = agreement_runs.wait_until(lambda: next(iter(dag_runs(af, dag_id)), None), timeout=60,
                                    what=f"a run of {dag_id}", poll=1)
    result = af.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)
    af.pause(dag_id)
    assert result.state == "success", f"{dag_id}: {result.failed_tasks}"


def run_once(af: AirflowRuntime, dag_id: str, timeout: float = 400) -> DagRunResult:
    """Trigger `dag_id` by hand (unpaused for the run) and wait for the run's end."""
    af.unpause(dag_id)
    try:
        return af.wait_for_run(dag_id, af.trigger(dag_id), timeout=timeout)
    finally:
        af.pause(dag_id)


@pytest.fixture(scope="session")
def delivered(airflow_runtime: AirflowRuntime, tracking_project: TrackingProject,
              tmp_path_factory: pytest.TempPathFactory) -> Delivered:
    """The agreements and two days of evidence, taken in through their DAGs; the people synced."""
    af, url, settings = airflow_runtime, tracking_project.url, tracking_project.settings
    # 1. intake: the agreements inbox into raw, and the registry snapshot for the agreement DAGs
    first_run_done(af, "agreements_intake")
    second_intake_run = run_once(af, "agreements_intake")
    entries = read_registry(settings.registry_path)
    # the agreement DAGs, built from the registry intake wrote: the dag-processor would parse their
    # files again within `min_file_process_interval` (30 s); QUICK_TIMERS parses once, so say when
    af.airflow("dags", "reserialize")
    # 2. the people, once the registry names the agreements: every account manager but the last
    # one with a single agreement, a viewer and an escalation person; synced twice (idempotent)
    managers = [e["account_manager"]["email"].lower() for e in entries]
    without_login = [m for m in managers if managers.count(m) == 1][-1]
    people = {m: "AccountManager" for m in managers if m != without_login} | {VIEWER: "Viewer", OPS_LEAD: "Op"}
    people_file = write_people(tmp_path_factory.mktemp("people") / "people.yaml", people)
    first_sync, second_sync = (partnerops_cli(af.env, "users", "sync", str(people_file)) for _ in range(2))
    assert first_sync.returncode == 0, first_sync.stderr[-3000:]
    passwords = json.loads(settings.airflow_passwords_file.read_text())
    # 3. evidence: feeds fresh and empty until AS_OF - 3, then two days of files through the evidence DAGs
    mark_feeds_fresh(url, AS_OF - timedelta(days=2))
    simulate(agreements_from_database(url), start=AS_OF - timedelta(days=2), end=AS_OF - timedelta(days=1),
             out=settings.evidence_inbox, seed=2015, scale=0.002)
    for dag_id in EVIDENCE_DAGS:  # all at once: they run side by side on the workers
        af.wait_for_dag(dag_id)
        af.unpause(dag_id)
    workers: set[str] = set()  # the workers seen running their tasks

    def evidence_runs_ended() -> dict[str, dict] | None:
        workers.update(workers_running_tasks(af))
        runs = {dag_id: next(iter(dag_runs(af, dag_id)), None) for dag_id in EVIDENCE_DAGS}
        ended = all(run and run["state"] in ("success", "failed") for run in runs.values())
        return runs if ended else None

    evidence_runs = agreement_runs.wait_until(evidence_runs_ended, timeout=400, what="the evidence DAGs' runs",
                                              poll=0.5)
    for dag_id in EVIDENCE_DAGS:
        af.pause(dag_id)
    return Delivered(entries=entries, agreement_files=len(list(settings.agreements_inbox.glob("*.y*ml"))),
                     second_intake_run=second_intake_run, evidence_runs=evidence_runs,
                     passwords={login: passwords[login] for login in people}, evidence_workers=workers,
                     account_manager_without_login=without_login, first_sync=first_sync, second_sync=second_sync)


def workers_running_tasks(af: AirflowRuntime) -> set[str]:
    """The Celery workers whose processes run a task now."""
    running = af.api("GET", "/dags/~/dagRuns/~/taskInstances", params={"state": "running", "limit": 100})
    return {af.component_of(ti["pid"]) for ti in running["task_instances"] if ti.get("pid")} & set(WORKERS)


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


def _kill_the_worker_running(af: AirflowRuntime, dag_id: str, task_id: str) -> tuple[str, int]:
    """SIGKILL the worker (and all its processes) that runs `task_id` now; its name and the try killed."""
    def running() -> dict | None:
        for run in dag_runs(af, dag_id):
            ti = af.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{task_id}")
            if ti["state"] == "running" and ti.get("pid"):
                return ti
        return None

    ti = agreement_runs.wait_until(running, timeout=60, what=f"{task_id} running with a pid", poll=0.5)
    worker = af.component_of(ti["pid"])
    assert worker in WORKERS, f"{task_id} (pid {ti['pid']}) runs in {worker}, not in a Celery worker"
    af.kill(worker)
    return worker, ti["try_number"]


@pytest.fixture(scope="session")
def tracked(airflow_runtime: AirflowRuntime, tracking_project: TrackingProject, delivered: Delivered, smtp
            ) -> Tracked:
    """The shared tracking run as of AS_OF (logical date: its midnight); the alerts run and agreement
    runs its Asset event started, with the worker sending alerts killed mid-send.

    sla_alerts and the agreement DAGs are unpaused only until those runs have finished, so later
    tracking runs start none.
    """
    af, url, as_of, (sink, _) = airflow_runtime, tracking_project.url, AS_OF.isoformat(), smtp
    followers = [ALERTS_DAG_ID, *(ad.dag_id_for(e["agreement_id"])
                                  for e in delivered.entries[:ASSET_TRIGGERED_AGREEMENTS])]
    for dag_id in followers:
        af.wait_for_dag(dag_id)
        af.unpause(dag_id)
    try:
        logical = datetime.combine(AS_OF, datetime.min.time(), ZoneInfo(FEED_TIMEZONE))
        run = run_tracking(af, as_of, logical_date=logical)
        # mid-send, the worker running send_alerts dies with everything it started; then it is started again
        assert sink.holding.wait(300), f"{ALERTS_DAG_ID} sent {sink.mail_commands} message(s), needs {HELD_MESSAGE}"
        killed, killed_try = _kill_the_worker_running(af, ALERTS_DAG_ID, "send_alerts")
        delivered_before_kill = len(sink.messages)
        sink.release.set()
        af.start([killed])
        [alerts_run] = agreement_runs.wait_until(lambda: dag_runs(af, ALERTS_DAG_ID), timeout=30,
                                                 what=f"the {ALERTS_DAG_ID} run")
        alerts = af.wait_for_run(ALERTS_DAG_ID, alerts_run["dag_run_id"], timeout=400)
        alerts_run = af.api("GET", f"/dags/{ALERTS_DAG_ID}/dagRuns/{alerts.run_id}")
        followed = {}
        for dag_id in followers[1:]:
            [agreement] = agreement_runs.wait_until(lambda d=dag_id: dag_runs(af, d), timeout=60,
                                                    what=f"the run of {dag_id}")
            followed[dag_id] = af.wait_for_run(dag_id, agreement["dag_run_id"], timeout=400)
        # the statuses those runs read (a later test may change them: agreement_run waives one)
        entries = {ad.dag_id_for(e["agreement_id"]): e for e in delivered.entries}
        followed_statuses = {dag_id: agreement_runs.mart_statuses(url, entries[dag_id]["agreement_id"], as_of)
                             for dag_id in followed}
    finally:
        for dag_id in followers:
            af.pause(dag_id)
    return Tracked(as_of=as_of, run=run, alerts_run=alerts_run, alerts_reports=alerts_reports(af, alerts.run_id),
                   killed_worker=killed, killed_try=killed_try, delivered_before_kill=delivered_before_kill,
                   agreement_runs=followed, agreement_statuses=followed_statuses)


def component_logs(runtime: AirflowRuntime) -> str:
    """The last lines of every component's output, for assertion messages."""
    return "\n".join(f"--- {name}\n{runtime.tail(name, 15)}" for name in runtime.processes)


#: A date no tracking run has built the marts for: an agreement's run for it fails (a pipeline failure).
NO_MARTS_DATE = "2020-01-01"
#: How long the shared agreement run waits for decisions: long enough to see its at-risk
#: commitments wait (deferred) and to answer a Required Action before it closes.
DECISION_WINDOW_MINUTES = 1.5


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
    #: another agreement's run for NO_MARTS_DATE, alongside: (its entry, its result)
    failing_run: tuple[dict, DagRunResult]
    #: the Required Action's page in the UI, as the account manager: (the Waive button disabled
    #: with the comment blank, "This field is required" shown, Waive enabled once filled in)
    form: tuple[bool, bool, bool]


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
def agreement_run(airflow_runtime: AirflowRuntime, tracking_project: TrackingProject, delivered: Delivered,
                  tracked: Tracked, tmp_path_factory: pytest.TempPathFactory) -> AgreementRun:
    """One agreement's DAG run as of the shared date, with an account manager's waiver, and the run after it.

    1. The run is triggered by hand with a decision window of DECISION_WINDOW_MINUTES; once
       every commitment task has settled (at-risk ones deferred), their states are read.
    2. The Required Action about a breached commitment is opened in the Airflow UI (headless
       Chromium) as the account manager: its form refuses a blank comment. It is answered
       through the REST API as the UI does: first by another account manager (refused), then by
       the agreement's own account manager (Waive, with a comment), each logged in through FAB.
    3. While the window is still open, commitment tracking is computed again for the same date:
       the `dbt build` the tracking DAG runs (the DAG itself is tested by `tracked`), with the
       decision dated to that day.
    4. The agreement's next run is triggered for the same date, on the new statuses; the first
       run is still waiting for its window to close.
    Between 1 and 2, while the first run waits for the decision, another run is triggered: it
    starts at once (an open decision blocks no run).

    Alongside, another agreement's DAG runs for a date without marts (`failing_run`).
    """
    af, url, as_of = airflow_runtime, tracking_project.url, tracked.as_of
    entries = [e for e in delivered.entries if e["account_manager"]["email"].lower() in delivered.passwords]
    entry, commitment_id, instance_ids = _pick_agreement(url, as_of, entries)
    expected_status = {c["id"]: "not_listed" for c in entry["commitments"]}
    expected_status.update(agreement_runs.mart_statuses(url, entry["agreement_id"], as_of))
    dag_id = ad.dag_id_for(entry["agreement_id"])
    af.wait_for_dag(dag_id)
    af.unpause(dag_id)
    failing = next(e for e in reversed(delivered.entries) if e is not entry)
    failing_dag_id = ad.dag_id_for(failing["agreement_id"])
    af.wait_for_dag(failing_dag_id)
    af.unpause(failing_dag_id)
    try:
        failing_run_id = af.trigger(failing_dag_id, conf={"as_of": NO_MARTS_DATE, "decision_window_minutes": 0})
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
        people = delivered.passwords
        manager = entry["account_manager"]["email"].lower()
        other = min(login for login in people if login not in (manager, OPS_LEAD, VIEWER))
        manager_token = af.token_for(manager, people[manager])
        form = required_action_form(
            af.base_url, manager_token,
            f"/dags/{dag_id}/runs/{run_id}/tasks/{ad.DECISION_TASK_ID}/mapped/{map_index}/required_actions",
            "Waive", agreement_runs.WAIVER_COMMENT, tmp_path_factory.mktemp("ui") / "required_action.png")
        refusal = af.api_as(af.token_for(other, people[other]), "PATCH", detail, json=waiver)
        answer = af.api_as(manager_token, "PATCH", detail, json=waiver)
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
        next_id = af.trigger(dag_id, conf={"as_of": as_of, "decision_window_minutes": 0})
        result = af.wait_for_run(dag_id, run_id, timeout=600)
        final = agreement_runs.commitment_task_states(af, dag_id, run_id, entry)
        overlapping_run = af.wait_for_run(dag_id, overlap_id, timeout=600)
        next_run = af.wait_for_run(dag_id, next_id, timeout=600)
        failing_run = af.wait_for_run(failing_dag_id, failing_run_id, timeout=600)
    finally:
        for paused in (dag_id, failing_dag_id):
            af.pause(paused)
    return AgreementRun(entry=entry, dag_id=dag_id, expected_status=expected_status, live=live,
                        decision_task_count=decision_task_count, result=result, final=final,
                        waived_commitment=commitment_id, waived_instances=instance_ids, decision_state=decided,
                        next_run=next_run, overlapping_run=overlapping_run,
                        first_run_state_while_overlapping_ran=first_state, account_manager=manager,
                        assigned_users=assigned, other_account_manager=other,
                        refused=(refusal.status_code, refusal.text), form=form,
                        failing_run=(failing, failing_run))

"""Helpers for the integration tests: fresh feeds, the marts' view of an agreement, its run's task states."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import psutil
import psycopg2

from partnerops import agreement_dags as ad
from partnerops.airflow_runtime import AirflowRuntime
from partnerops.settings import FEED_TIMEZONE

T = TypeVar("T")

SETTLED = {"success", "skipped", "failed", "deferred", "upstream_failed"}
WAIVER_COMMENT = "Brand's warehouse move was agreed in the QBR; waive this instance (agdag test)"
FEEDS = ("orders", "shipments", "campaign_executions", "channel_listings", "data_deliveries", "attestations")


def mark_feeds_fresh(url: str, as_of: date) -> None:
    """One empty load per evidence feed, delivered the day before `as_of` and covering every day
    since before the terms began: the feeds are fresh and complete, the evidence absent (so misses
    are provable)."""
    arrived = datetime.combine(as_of - timedelta(days=1), datetime.min.time(), ZoneInfo(FEED_TIMEZONE))
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            """insert into raw.evidence_loads (feed, file_path, content_hash, arrived_at, status, triggered_by,
                                               finished_at, min_business_date, max_business_date)
               values (%s, %s, %s, %s, 'loaded', 'test', %s, date '2025-01-01', %s)""",
            [(feed, f"agdag-test/{feed}", f"agdag-test-{feed}", arrived + timedelta(hours=20),
              arrived + timedelta(hours=20, minutes=1), as_of - timedelta(days=1)) for feed in FEEDS])
    conn.close()


def instances(url: str, as_of: str) -> list[tuple]:
    """(agreement_id, commitment_id, commitment_instance_id, status, status_reason) of every instance."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select agreement_id, commitment_id, commitment_instance_id, status, status_reason
                         from marts.commitment_statuses where as_of_date = %s
                        order by agreement_id, commitment_id, instance_key""", (as_of,))
        rows = cur.fetchall()
    conn.close()
    return rows


def mart_statuses(url: str, agreement_id: str, as_of: str) -> dict[str, str]:
    """Each commitment's status (the worst of its instances') as the agreement's DAG computes it."""
    by_commitment: dict[str, list[str]] = {}
    for agreement, commitment, _, status, _ in instances(url, as_of):
        if agreement == agreement_id:
            by_commitment.setdefault(commitment, []).append(status)
    return {cid: ad.commitment_status(statuses) for cid, statuses in by_commitment.items()}


def commitment_task_states(af: AirflowRuntime, dag_id: str, run_id: str, entry: dict) -> dict[str, str | None]:
    states = af.task_states(dag_id, run_id)
    return {c["id"]: states.get(f"{c['pillar']}.{ad.task_id_for(c['id'])}") for c in entry["commitments"]}


def decision_tasks(af: AirflowRuntime, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The mapped instances of the run's decision task."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/listMapped"
    return af.api("GET", path)["task_instances"]


def awaiting_decision_on(af: AirflowRuntime, dag_id: str, run_id: str, commitment_id: str) -> int | None:
    """The map index of the decision task asking about `commitment_id`, once it awaits input."""
    for ti in decision_tasks(af, dag_id, run_id):
        if ti["state"] != "awaiting_input":
            continue
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/{ti['map_index']}/hitlDetails"
        if f": {commitment_id} is " in af.api("GET", path)["subject"]:
            return ti["map_index"]
    return None


def wait_until_the_asking_attempt_has_ended(af: AirflowRuntime, dag_id: str, run_id: str, map_index: int) -> None:
    """Wait, as a person would, before answering a Required Action that has just appeared.

    The decision task asks, parks in `awaiting_input` and its process exits; the scheduler
    learns of that exit in a later loop. Airflow 3.3 takes an answer that lands before the
    scheduler has processed that exit for a task killed externally: the resumed try is failed,
    retried, and asks again, and the answer is lost (seen on a loaded machine, the exit
    processed 5 s after the question). A person is never that fast; the test waits until the
    asking process has exited and two scheduler heartbeats later (a whole scheduler loop after it).
    """
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ad.DECISION_TASK_ID}/{map_index}"
    pid = af.api("GET", path).get("pid")
    if pid:
        wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
                   timeout=120, what=f"the asking process {pid} to exit", poll=0.5)
    def heartbeat() -> str | None:
        return af.api("GET", "/monitor/health")["scheduler"]["latest_scheduler_heartbeat"]

    beats = [heartbeat()]  # the one current when the process had exited: it may predate the exit

    def two_heartbeats_later() -> bool:
        beat = heartbeat()
        if beat and beat != beats[-1]:
            beats.append(beat)
        return len(beats) > 2

    wait_until(two_heartbeats_later, timeout=120, what="two scheduler heartbeats", poll=0.5)


def wait_until(predicate: Callable[[], T], timeout: float, what: str, poll: float = 2) -> T:
    """The first truthy value of `predicate()`; fails after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

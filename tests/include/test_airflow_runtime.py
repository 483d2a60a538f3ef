"""The test harness's process and broker handling (partnerops.airflow_runtime), without Airflow.

- A component is started in its own session and dies with the process that started it, even
  when that process is killed outright (SIGKILL: no handler, no finalizer runs).
- Stopping a component ends every process of its session, also one that left its process group.
- Each runtime's Celery broker is a Redis database of its own, flushed when released.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest

from partnerops.airflow_runtime import (
    _REDIS_CLAIM_KEY,
    _die_with_parent,
    _kill_session,
    _session_of,
    claim_redis_db,
    runtime_environ,
)
from partnerops.settings import get_settings


def _alive(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_dead(pid: int, timeout: float = 10) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_component_dies_with_a_harness_killed_outright() -> None:
    harness = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import subprocess, sys, time
        from partnerops.airflow_runtime import _die_with_parent
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 start_new_session=True, preexec_fn=_die_with_parent)
        print(child.pid, flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    component = int(harness.stdout.readline())
    assert _session_of(component) == component  # its own session, so stop() can find all it starts
    harness.send_signal(signal.SIGKILL)
    harness.wait()
    assert _wait_dead(component), "the component outlived the harness"


def test_stopping_a_component_ends_processes_that_left_its_group() -> None:
    component = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, subprocess, sys, time
        task = subprocess.Popen([sys.executable, "-c", "import os, time; os.setpgid(0, 0); time.sleep(60)"])
        print(task.pid, flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_die_with_parent)
    task = int(component.stdout.readline())
    time.sleep(0.3)  # the task has moved to a group of its own
    assert os.getpgid(task) != component.pid and _session_of(task) == component.pid
    _kill_session(component.pid)
    component.wait(timeout=10)
    assert _wait_dead(task), "a task process of the stopped component is still running"


def test_each_runtime_gets_a_redis_database_of_its_own_flushed_after() -> None:
    import redis

    with claim_redis_db() as first, claim_redis_db() as second:
        assert first != second
        client = redis.Redis.from_url(first)
        client.set("celery-message", "x")
        assert redis.Redis.from_url(second).get("celery-message") is None
        assert client.get(_REDIS_CLAIM_KEY)
    assert client.get("celery-message") is None and client.get(_REDIS_CLAIM_KEY) is None


def test_the_celery_environment_names_the_broker_and_splits_the_slots(tmp_path) -> None:
    settings = replace(get_settings(), data_dir=tmp_path)
    env = runtime_environ(settings, "postgresql://x/p", "postgresql+psycopg2://x/m", api_port=1,
                          unpause_new_dags=False, parallelism=8, executor="CeleryExecutor",
                          broker_url="redis://127.0.0.1:6379/3", worker_concurrency=4)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/3"
    assert (env["AIRFLOW__CORE__PARALLELISM"], env["AIRFLOW__CELERY__WORKER_CONCURRENCY"]) == ("8", "4")
    assert env["AIRFLOW__CELERY__TASK_ACKS_LATE"] == "True"  # from settings.AIRFLOW_CONFIG
    with pytest.raises(ValueError, match="broker_url"):
        runtime_environ(settings, "postgresql://x/p", "postgresql+psycopg2://x/m", api_port=1,
                        unpause_new_dags=False, parallelism=8, executor="CeleryExecutor")

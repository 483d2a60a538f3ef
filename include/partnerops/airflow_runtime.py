"""Airflow with a real scheduler, as subprocesses: for integration tests, benchmarks and `partnerops serve`.

`airflow dags test` runs tasks one after another in one process, which cannot run a Cosmos
WATCHER DAG (its sensors wait for a producer that never starts) and hides everything the
scheduler does: Asset events, deadlines, deferral. `AirflowRuntime` starts the components
Airflow 3 needs to run DAGs for real, with `airflow_environ()` plus:

- a PostgreSQL metadata database (never SQLite, since tasks run in parallel): a throwaway
  `af_meta_<random>` database for tests, or `<project database>_airflow` next to the project
  database for serve (kept, so runs and their history survive restarts);
- `LocalExecutor`, and the API server on a chosen port, which also serves the Execution API
  that task processes talk to;
- the simple auth manager's `admin` user (configured by `airflow_environ()`), and one login
  per account manager of the registry snapshot (their email, role `user`): decisions record
  a real person locally too. Passwords are generated once into
  `<AIRFLOW_HOME>/simple_auth_manager_passwords.json`; the identities snapshot
  (`partnerops.people`) assigns each decision request to the agreement's account manager,
  with `admin` as the escalation login. A new account manager needs a restart.

A metadata database can be cloned from a migrated template (`migrated_template`,
`running_airflow(meta_template=...)`): tests migrate once per session, not once per runtime.
`QUICK_TIMERS` shortens the waits that only production needs (retry delays, decision
windows, re-parsing unchanged DAG files); tests and benchmarks pass it as `extra_env`.

Components: `scheduler`, `dag-processor`, `triggerer` (deferrable sensors and deadline
callbacks run there) and `api-server`. Each writes its output to `<AIRFLOW_HOME>/logs/<name>.out`.
Runs are triggered and followed through the REST API (`/api/v2`).

The deployed topology (docker-compose.yml) runs the same way with `executor="CeleryExecutor"`:
components `worker-1`, `worker-2`, ... are `airflow celery worker`s (`celery_workers(n)`), the
broker is a Redis database the caller owns (`claim_redis_db`), the Celery result backend is the
metadata database (Airflow's default), and with `component_homes` each component runs in its
own folder (its cwd and AIRFLOW_HOME: its own airflow.cfg and output), sharing only the
databases and the project's data folder (which holds the task logs, as compose's volume does).
`CELERY_QUICK_TIMERS` lets the scheduler notice a dead worker's task in seconds.

Every component is started in its own session and told to die with the process that started it
(`PR_SET_PDEATHSIG`), so a harness killed outright leaves no Airflow behind; `stop()` ends every
process of each component's session, including task processes that left its process group.

    with running_airflow(project_url) as af:
        run_id = af.trigger("commitment_tracking", logical_date=..., conf={...})
        run = af.wait_for_run("commitment_tracking", run_id)
"""

from __future__ import annotations

import base64
import configparser
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from partnerops.db import create_database, describe, drop_database, with_database
from partnerops.errors import UserError
from partnerops.settings import (
    AIRFLOW_ADMIN_USER,
    AIRFLOW_API_CONN_ID,
    AIRFLOW_CONN_ID,
    Settings,
    airflow_environ,
    get_settings,
)

log = logging.getLogger(__name__)

#: Every component a DAG run needs; `triggerer` runs deferred sensors and deadline callbacks.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = AIRFLOW_ADMIN_USER
TERMINAL_RUN_STATES = frozenset({"success", "failed"})

#: Timers for runs that only test or measure (`extra_env`); production keeps its own values.
QUICK_TIMERS: dict[str, str] = {
    # a failed task is retried after a second, not after the DAG's production delay
    "PARTNEROPS_RETRY_DELAY_SECONDS": "1",
    # runs without a window in their conf (Asset-triggered) stop waiting for decisions after 6 s
    "PARTNEROPS_DECISION_WINDOW_MINUTES": "0.1",
    # the DAG files do not change during a test run: parse them once, not every 30 s
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3600",
}

#: With the CeleryExecutor, in tests: a task whose worker died (no heartbeat) is failed, and
#: retried, after 15 s instead of 5 minutes; the scheduler looks every 2 s.
CELERY_QUICK_TIMERS: dict[str, str] = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
}

#: Where the test harness finds Redis (the Celery broker); PARTNEROPS_TEST_REDIS_URL overrides it.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
CELERY_WORKER_PREFIX = "worker-"


def celery_workers(count: int) -> tuple[str, ...]:
    """The names of `count` Celery workers, to pass to `start()` next to `COMPONENTS`."""
    return tuple(f"{CELERY_WORKER_PREFIX}{i}" for i in range(1, count + 1))


def _component_args(name: str) -> list[str]:
    if name.startswith(CELERY_WORKER_PREFIX):
        # a node name of its own: two workers on one host would otherwise share one
        return ["celery", "worker", "--celery-hostname", f"{name}@%h"]
    return [name]


class AirflowRuntimeError(RuntimeError):
    """A component did not start, or a run did not finish in time; the message names the log to read."""


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str | None]
    seconds: float
    logical_date: str | None = None
    conf: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_tasks(self) -> dict[str, str | None]:
        return {t: s for t, s in self.task_states.items() if s not in ("success", "skipped")}


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metadata_url(server_url: str, database: str) -> str:
    """An SQLAlchemy URL (psycopg2 driver) for `database` on the server of `server_url`."""
    parts = urlsplit(with_database(server_url, database))
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def _airflow_executable() -> str:
    return shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"


def runtime_environ(
    settings: Settings,
    project_url: str,
    meta_url: str,
    *,
    api_port: int,
    unpause_new_dags: bool,
    parallelism: int,
    extra: Mapping[str, str] | None = None,
    executor: str = "LocalExecutor",
    broker_url: str | None = None,
    worker_concurrency: int | None = None,
    connection_in_metadata: bool = False,
) -> dict[str, str]:
    """The environment every component and CLI call of one runtime shares.

    `parallelism`: how many tasks run at once in all. With `executor="CeleryExecutor"`,
    `broker_url` is the Celery broker and each worker runs `worker_concurrency` tasks at a time
    (default: `parallelism`).

    `connection_in_metadata`: the project database is not in the environment at all (no
    `PARTNEROPS_DATABASE_URL`, no `AIRFLOW_CONN_PARTNEROPS_DB`); the runtime keeps it as the
    connection `partnerops_db` in the metadata database instead, as a deployment does.
    """
    home = settings.airflow_home
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        **airflow_environ(settings, project_url),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(not unpause_new_dags),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": _stable_secret(home, "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _stable_secret(home, "api_secret_key"),
        # One key for every component: left to Airflow, each component that starts before
        # airflow.cfg exists generates its own, and triggers written by one cannot be read by another.
        "AIRFLOW__CORE__FERNET_KEY": _fernet_key(home),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        # A task's calls to the Execution API wait 30 s, not 5: on a busy shared machine the API
        # server answers slowly, and a task that cannot start is failed by its executor.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        # Log servers (task logs of the scheduler's LocalExecutor, the triggerer's) on free
        # ports, not 8793/8794: runtimes started side by side on one machine would collide.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    if executor == "CeleryExecutor":
        if not broker_url:
            raise ValueError("the CeleryExecutor needs a broker_url")
        env["AIRFLOW__CELERY__BROKER_URL"] = broker_url
        env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(worker_concurrency or parallelism)
    env.update(extra or {})
    if connection_in_metadata:
        for name in ("PARTNEROPS_DATABASE_URL", f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}"):
            env.pop(name, None)
    return env


def _stable_secret(home: Path, name: str, *, fernet: bool = False) -> str:
    """A random secret kept in AIRFLOW_HOME, so restarts keep sessions, tokens and encrypted values valid.

    `fernet`: a Fernet key (32 bytes, URL-safe base64), as Airflow's `[core] fernet_key` needs.
    """
    path = home / f".{name}"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() if fernet
                        else secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key(home: Path) -> str:
    """The key Airflow encrypts trigger arguments, variables and connections with.

    The one already in `<AIRFLOW_HOME>/airflow.cfg` if Airflow wrote one there (values in an
    existing metadata database stay readable), else a key kept in AIRFLOW_HOME.
    """
    cfg = home / "airflow.cfg"
    if cfg.exists():
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(cfg)
        if parser.get("core", "fernet_key", fallback="").strip():
            return parser.get("core", "fernet_key").strip()
    return _stable_secret(home, "fernet_key", fernet=True)


def _local_people(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """Under the simple auth manager: one login per account manager; returns {login: password}.

    Sets `[core] simple_auth_manager_users` in `env` and writes the identities snapshot.
    Under another auth manager (FAB, `partnerops users sync`) nothing is done.
    """
    from partnerops.people import (
        ensure_passwords,
        identities_path,
        simple_auth_identities,
        simple_auth_users,
        write_identities,
    )
    from partnerops.registry import read_registry
    from partnerops.settings import SIMPLE_AUTH_MANAGER

    if env.get("AIRFLOW__CORE__AUTH_MANAGER") != SIMPLE_AUTH_MANAGER:
        return {}
    entries = read_registry(settings.registry_path)
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = simple_auth_users(entries, ADMIN_USER)
    identities = simple_auth_identities(entries)
    passwords = ensure_passwords(settings.airflow_passwords_file, list(identities))
    identities[ADMIN_USER] = {"id": ADMIN_USER, "name": ADMIN_USER}
    write_identities(identities_path(settings.data_dir), identities, [ADMIN_USER])
    return {login: passwords[login] for login in identities if login != ADMIN_USER}


def ensure_admin_password(settings: Settings, password: str | None = None) -> str:
    """The admin user's password in the simple auth manager's passwords file.

    With `password`, it is set (a deployment's `AIRFLOW_ADMIN_PASSWORD`); without, one is
    generated the first time and kept.
    """
    path = settings.airflow_passwords_file
    passwords: dict[str, str] = {}
    if path.exists() and path.read_text().strip():
        passwords = json.loads(path.read_text())
    wanted = password if password is not None else passwords.get(ADMIN_USER) or secrets.token_urlsafe(12)
    if passwords.get(ADMIN_USER) != wanted:
        passwords[ADMIN_USER] = wanted
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords) + "\n")
        path.chmod(0o600)
    return passwords[ADMIN_USER]


class AirflowRuntime:
    """Airflow's components as subprocesses sharing one environment; see the module docstring."""

    def __init__(
        self,
        project_url: str,
        meta_url: str,
        *,
        settings: Settings | None = None,
        api_port: int | None = None,
        unpause_new_dags: bool = True,
        parallelism: int = 8,
        extra_env: Mapping[str, str] | None = None,
        executor: str = "LocalExecutor",
        broker_url: str | None = None,
        worker_concurrency: int | None = None,
        component_homes: Path | None = None,
        connection_in_metadata: bool = False,
    ) -> None:
        self.settings = settings or get_settings()
        self.connection_in_metadata = connection_in_metadata
        self.project_url = project_url
        self.meta_url = meta_url
        self.api_port = api_port or free_port()
        self.env = runtime_environ(
            self.settings, project_url, meta_url, api_port=self.api_port,
            unpause_new_dags=unpause_new_dags, parallelism=parallelism, extra=extra_env,
            executor=executor, broker_url=broker_url, worker_concurrency=worker_concurrency,
            connection_in_metadata=connection_in_metadata,
        )
        #: with it, component `<name>` runs in `<component_homes>/<name>` (cwd and AIRFLOW_HOME)
        self.component_homes = component_homes
        self.password = ensure_admin_password(self.settings)
        self.people = _local_people(self.settings, self.env)
        # per-agreement runs write their summary as the run's note through the REST API, as admin
        self.env.setdefault(f"AIRFLOW_CONN_{AIRFLOW_API_CONN_ID.upper()}",
                            f"http://{ADMIN_USER}:{quote(self.password, safe='')}@127.0.0.1:{self.api_port}")
        self.log_dir = self.settings.airflow_home / "logs"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.api_port}"

    # -- lifecycle -----------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one Airflow CLI command in this runtime's environment."""
        proc = subprocess.run([_airflow_executable(), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.settings.project_root)
        if check and proc.returncode != 0:
            raise AirflowRuntimeError(f"`airflow {' '.join(args)}` failed ({proc.returncode}):\n"
                                      f"{proc.stderr[-3000:] or proc.stdout[-3000:]}")
        return proc

    def migrate(self) -> None:
        log.info("migrating the Airflow metadata database %s", describe(self.meta_url))
        self.airflow("db", "migrate", timeout=600)

    def home(self, name: str) -> Path:
        """The folder component `name` runs in: its own with `component_homes`, else the shared AIRFLOW_HOME."""
        return self.component_homes / name if self.component_homes else self.settings.airflow_home

    def _out_path(self, name: str) -> Path:
        return (self.home(name) if self.component_homes else self.log_dir) / f"{name}.out"

    def add_project_connection(self) -> None:
        """Write the project database as the connection `partnerops_db` into the metadata database,
        replacing one there: one CLI call, through a file only the owner can read (not argv)."""
        home = self.settings.airflow_home
        home.mkdir(parents=True, exist_ok=True)
        path = home / f".{AIRFLOW_CONN_ID}.env"
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(f"{AIRFLOW_CONN_ID}={self.project_url}\n")
        try:
            self.airflow("connections", "import", "--overwrite", str(path))
        finally:
            path.unlink(missing_ok=True)

    def start(self, components: Sequence[str] = COMPONENTS) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in components:
            env, cwd = dict(self.env), self.settings.project_root
            if self.component_homes:
                cwd = self.home(name)
                cwd.mkdir(parents=True, exist_ok=True)
                env["AIRFLOW_HOME"] = str(cwd)
                # task logs in the shared data folder, as docker-compose.yml's volume holds them:
                # the API server reads a task's log there, whichever worker wrote it
                env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(self.log_dir)
            if name.startswith(CELERY_WORKER_PREFIX):  # each worker serves its task logs on a port of its own
                env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
            out = open(self._out_path(name), "ab")  # noqa: SIM115 - closed with the process
            self.processes[name] = subprocess.Popen(
                [_airflow_executable(), *_component_args(name)], env=env, stdout=out, stderr=subprocess.STDOUT,
                cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent,
            )
            out.close()
            log.info("started airflow %s (pid %s)", name, self.processes[name].pid)

    def kill(self, name: str) -> None:
        """SIGKILL component `name` and every process of its session, as when its host dies."""
        proc = self.processes.pop(name)
        _kill_session(proc.pid)
        proc.wait(timeout=10)

    def component_of(self, pid: int) -> str | None:
        """The component whose session process `pid` belongs to (a task process: the worker that runs it)."""
        sid = _session_of(pid)
        return next((name for name, proc in self.processes.items() if proc.pid == sid), None)

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AirflowRuntimeError(
                    f"airflow {name} exited with code {proc.returncode}; last lines of "
                    f"{self._out_path(name)}:\n{self.tail(name)}"
                )

    def tail(self, name: str, lines: int = 40) -> str:
        path = self._out_path(name)
        if not path.exists():
            return "(no output)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 180) -> None:
        """Wait until the API answers and the scheduler, triggerer and dag-processor heartbeat."""
        deadline = time.monotonic() + timeout
        wanted = {"scheduler", "triggerer", "dag_processor"} & {c.replace("-", "_") for c in self.processes}
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
                last = health
                if all((health.get(c) or {}).get("status") == "healthy" for c in wanted):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        raise AirflowRuntimeError(f"Airflow not ready after {timeout:.0f} s (health: {last}); "
                                  f"see the logs in {self.log_dir}")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM every component (and its children), then SIGKILL what is left."""
        for proc in self.processes.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        end = time.monotonic() + timeout
        for name, proc in self.processes.items():
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("airflow %s did not stop in %s s; killing it", name, timeout)
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        for proc in self.processes.values():  # children that outlived their parent
            _kill_session(proc.pid)
        self.processes.clear()

    # -- REST API ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            resp = httpx.post(f"{self.base_url}/auth/token", timeout=30,
                              json={"username": ADMIN_USER, "password": self.password})
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def token_for(self, username: str, password: str) -> str:
        """A REST API token for another login (e.g. an account manager's)."""
        resp = httpx.post(f"{self.base_url}/auth/token", timeout=30,
                          json={"username": username, "password": password})
        if resp.status_code >= 400:
            raise AirflowRuntimeError(f"login as {username}: HTTP {resp.status_code} {resp.text[:500]}")
        return resp.json()["access_token"]

    def api_as(self, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One REST API call with another login's token; the response as is (to check refusals)."""
        return httpx.request(method, f"{self.base_url}/api/v2{path}", timeout=60,
                             headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call; a GET is tried again (up to 3 times) when the server fails or does not answer."""
        for attempt in range(3 if method == "GET" else 1):
            try:
                resp = httpx.request(method, f"{self.base_url}/api/v2{path}", headers=self._headers(), timeout=60,
                                     **kwargs)
            except httpx.TransportError:
                if method != "GET" or attempt == 2:
                    raise
                time.sleep(2)
                continue
            if resp.status_code < 500 or method != "GET" or attempt == 2:
                break
            time.sleep(2)  # e.g. "Database error" from a metadata database busy with other work
        if resp.status_code >= 400:
            raise AirflowRuntimeError(f"{method} /api/v2{path}: HTTP {resp.status_code} {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict[str, Any]:
        """Wait until the dag-processor has parsed `dag_id`.

        Fails at once on an import error in `<dag_id>.py`; other files' errors are reported
        only if the DAG never appears.
        """
        deadline = time.monotonic() + timeout
        errors: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            self._check_alive()
            resp = httpx.get(f"{self.base_url}/api/v2/dags/{dag_id}", headers=self._headers(), timeout=30)
            if resp.status_code == 200:
                return resp.json()
            errors = self.api("GET", "/importErrors").get("import_errors", [])
            if any(Path(e["filename"]).stem == dag_id for e in errors):
                break
            time.sleep(1)
        raise AirflowRuntimeError(f"DAG {dag_id} not parsed (see {self.log_dir / 'dag-processor.out'})"
                                  + "".join(f"\n{e['filename']}: {e['stack_trace'][-2000:]}" for e in errors))

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})

    def trigger(self, dag_id: str, *, logical_date: datetime | None = None,
                conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Start a run of `dag_id` now; returns its run id."""
        body: dict[str, Any] = {
            "logical_date": logical_date.isoformat() if logical_date else None,
            "conf": dict(conf or {}),
            "dag_run_id": run_id or f"test__{uuid.uuid4().hex[:10]}",
        }
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        data = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        return {ti["task_id"]: ti["state"] for ti in data["task_instances"]}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600, poll: float = 0.5,
                     max_poll: float = 3) -> DagRunResult:
        """Wait until the run is `success` or `failed`; raise with task states if it takes longer.

        The run is asked for every `poll` seconds at first, then less and less often, up to
        every `max_poll` seconds: a short run is seen to end at once, and a long wait does not
        keep the API server busy.
        """
        started = time.monotonic()
        while True:
            self._check_alive()
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL_RUN_STATES:
                break
            if time.monotonic() - started > timeout:
                raise AirflowRuntimeError(f"run {dag_id}/{run_id} still {run['state']} after {timeout:.0f} s; "
                                          f"tasks: {self.task_states(dag_id, run_id)}")
            time.sleep(poll)
            poll = min(poll * 1.25, max(max_poll, poll))
        return DagRunResult(dag_id=dag_id, run_id=run_id, state=run["state"],
                            task_states=self.task_states(dag_id, run_id),
                            seconds=_run_seconds(run) or (time.monotonic() - started),
                            logical_date=run.get("logical_date"), conf=run.get("conf") or {})

    def asset_events(self, name: str) -> list[dict[str, Any]]:
        """Every recorded event of the Asset called `name` (oldest first)."""
        assets = self.api("GET", "/assets", params={"name_pattern": name, "limit": 100})["assets"]
        ids = [a["id"] for a in assets if a["name"] == name]
        if not ids:
            return []
        return self.api("GET", "/assets/events", params={"asset_id": ids[0], "limit": 1000,
                                                         "order_by": "timestamp"})["asset_events"]


def _run_seconds(run: Mapping[str, Any]) -> float | None:
    start, end = run.get("start_date"), run.get("end_date")
    if not (start and end):
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the component's own session: it and the task processes it forked
    except (ProcessLookupError, PermissionError):
        pass


def _session_of(pid: int) -> int | None:
    """The session id of process `pid` (Linux /proc), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[3])  # fields after the name: state ppid pgrp session


def _kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid` (a component and all it started, whatever their group)."""
    try:
        os.killpg(sid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _session_of(int(entry.name)) == sid:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In a child before exec: SIGTERM it when the process that started it dies (even by SIGKILL)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: stop() and the signal handlers still apply
        pass


def migrated_template(server_url: str, database: str, *, settings: Settings | None = None,
                      extra_env: Mapping[str, str] | None = None) -> str:
    """Create `database` on `server_url` and migrate it: a template to clone metadata databases from.

    Returns its name; pass it as `running_airflow(meta_template=...)` or to
    `partnerops.db.create_database(..., template=...)`. The caller drops it. `extra_env` is the
    migration's configuration (with the FAB auth manager, FAB's tables are created too).
    """
    create_database(server_url, database)
    AirflowRuntime(server_url, metadata_url(server_url, database), settings=settings, extra_env=extra_env).migrate()
    return database


@contextmanager
def running_airflow(
    project_url: str,
    *,
    meta_server_url: str | None = None,
    meta_database: str | None = None,
    meta_template: str | None = None,
    settings: Settings | None = None,
    api_port: int | None = None,
    components: Sequence[str] = COMPONENTS,
    unpause_new_dags: bool = True,
    parallelism: int = 8,
    extra_env: Mapping[str, str] | None = None,
    ready_timeout: float = 180,
    stop_timeout: float = 30,
    executor: str = "LocalExecutor",
    broker_url: str | None = None,
    worker_concurrency: int | None = None,
    component_homes: Path | None = None,
    connection_in_metadata: bool = False,
    before_start: Callable[[AirflowRuntime], object] | None = None,
) -> Iterator[AirflowRuntime]:
    """Airflow running against `project_url`; stopped (and a throwaway metadata database dropped) on exit.

    With no `meta_database`, a throwaway `af_meta_<random>` database is created on
    `meta_server_url` (default: the project database's server) and dropped afterwards; with
    `meta_template` (see `migrated_template`), it is a clone of that migrated database.
    Components still running `stop_timeout` seconds after SIGTERM are killed. With
    `connection_in_metadata`, the project database reaches the tasks only as the connection
    `partnerops_db` in the metadata database (see `runtime_environ`). `before_start(runtime)`
    runs once the metadata database is ready and before any component starts (docker-compose's
    `airflow-init`: for example the FAB login).
    """
    server = meta_server_url or project_url
    throwaway = meta_database is None
    name = meta_database or f"af_meta_{uuid.uuid4().hex[:10]}"
    create_database(server, name, exist_ok=not throwaway, template=meta_template if throwaway else None)
    runtime = AirflowRuntime(project_url, metadata_url(server, name), settings=settings, api_port=api_port,
                             unpause_new_dags=unpause_new_dags, parallelism=parallelism, extra_env=extra_env,
                             executor=executor, broker_url=broker_url, worker_concurrency=worker_concurrency,
                             component_homes=component_homes, connection_in_metadata=connection_in_metadata)
    try:
        if not (throwaway and meta_template):
            runtime.migrate()
        if connection_in_metadata:
            runtime.add_project_connection()
        if before_start:
            before_start(runtime)
        runtime.start(components)
        runtime.wait_ready(ready_timeout)
        yield runtime
    finally:
        runtime.stop(stop_timeout)
        if throwaway:
            drop_database(server, name)


_REDIS_CLAIM_KEY = "partnerops:harness:claimed_by"


@contextmanager
def claim_redis_db(redis_url: str | None = None, *, ttl: float = 3600) -> Iterator[str]:
    """A Redis database of its own for one runtime's Celery broker: its URL (`redis://host:port/<n>`).

    Takes the first empty database from 1 up (0 is left to whoever else uses the server),
    marks it with a key that expires after `ttl` seconds (so a run killed outright frees it),
    and flushes it on exit: runs side by side on one Redis never see each other's messages.
    `redis_url` defaults to PARTNEROPS_TEST_REDIS_URL, else 127.0.0.1:6379.
    """
    import redis

    base = (redis_url or os.environ.get("PARTNEROPS_TEST_REDIS_URL") or DEFAULT_REDIS_URL).rstrip("/")
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    try:
        count = int(redis.Redis.from_url(base, socket_timeout=5).config_get("databases")["databases"])
    except redis.RedisError as exc:
        raise UserError(f"Redis at {base} does not answer ({exc}); start it or set PARTNEROPS_TEST_REDIS_URL") from exc
    for number in range(1, count):
        client = redis.Redis.from_url(f"{base}/{number}", socket_timeout=5)
        if client.dbsize() == 0 and client.set(_REDIS_CLAIM_KEY, token, nx=True, ex=int(ttl)):
            try:
                yield f"{base}/{number}"
            finally:
                if client.get(_REDIS_CLAIM_KEY) in (token.encode(), None):
                    client.flushdb()
                client.close()
            return
        client.close()
    raise UserError(f"no free database on Redis at {base} (all {count - 1} hold keys)")


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def interrupt_on_signals() -> None:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt, so `running_airflow` always cleans up.

    Also when started in the background, where the shell leaves SIGINT ignored.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def serve(*, port: int = 8080, settings: Settings | None = None) -> int:
    """`partnerops serve`: the Airflow UI on `port` against the project database, until Ctrl-C."""
    from partnerops.db import database_url, stop_embedded

    settings = settings or get_settings()
    interrupt_on_signals()
    try:
        project_url = database_url(settings)
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise UserError(f"port {port} is already in use; stop what listens there or pass --port")
        from partnerops.migrations import upgrade

        upgrade(project_url)  # tasks only check the schema revision; serve, like airflow-init, migrates
        print(f"project database: {describe(project_url)} (schema migrations applied)")
        from partnerops.tracking import build_manifest, manifest_path

        if not manifest_path(settings).exists():
            print(f"dbt manifest: {build_manifest(settings, project_url)}")
        print("starting Airflow (metadata database migrations, scheduler, dag-processor, triggerer, api-server)...")
        meta_database = urlsplit(project_url).path.lstrip("/") + "_airflow"
        with running_airflow(project_url, meta_database=meta_database, settings=settings,
                             api_port=port, unpause_new_dags=False, parallelism=4) as af:
            if af.people:
                print(f"account managers (decisions): {len(af.people)} login(s), e.g. {min(af.people)}; "
                      f"passwords in {settings.airflow_passwords_file}")
            print(f"\nAirflow UI: http://localhost:{port}\nlogin:      {ADMIN_USER} / {af.password}\n"
                  f"(password kept in {settings.airflow_passwords_file}; "
                  f"component logs in {af.log_dir})\nPress Ctrl-C to stop.", flush=True)
            try:
                while True:
                    af._check_alive()
                    time.sleep(2)
            except KeyboardInterrupt:
                print("\nstopping Airflow...", flush=True)
    finally:
        stop_embedded()
    return 0

"""The project's settings, read from the environment in one place.

Every module asks `get_settings()` rather than reading environment variables itself, so
the names and defaults below are the whole configuration surface. Nothing is cached: the
CLI, the DAGs and the tests may change the environment between calls.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

#: The Airflow connection id under which DAGs find the project database.
AIRFLOW_CONN_ID = "partnerops_db"
#: Each component's own connection, logged in as its database role of least privilege
#: (docs/deploy.md, "Database roles"); an unset one falls back to `partnerops_db`.
LOADER_CONN_ID = "partnerops_loader"
TRANSFORMER_CONN_ID = "partnerops_transformer"
ALERTS_CONN_ID = "partnerops_alerts"
READER_CONN_ID = "partnerops_reader"
#: The Airflow role of account managers: the Partnerships view shows them their own portfolio only.
ACCOUNT_MANAGER_ROLE = "AccountManager"
#: The Airflow connection (`http://user:password@host:port`) through which a per-agreement run
#: writes its one-line summary as the run's note (Airflow's REST API; optional).
AIRFLOW_API_CONN_ID = "partnerops_airflow_api"
#: Airflow's per-logger levels ([logging] namespace_levels) under its global WARNING:
#: - the operators of `partnerops` log at INFO, so a commitment task's log says its status and
#:   why (an operator's `self.log` is `airflow.task.operators.<module>.<class>`; plain stdlib
#:   loggers stay at WARNING, as Airflow's task log handler is set to the global level);
#: - the Task SDK's API client logs a lookup of a missing XCom at ERROR, though the caller gets
#:   "none" and carries on. Cosmos' watcher asks for each model's status XCom every second until
#:   dbt has written it, so a tracking run filled the triggerer's log with hundreds of "XCom not
#:   found" errors. The client logs nothing else below CRITICAL (other failures raise).
LOG_NAMESPACE_LEVELS = "airflow.task.operators.partnerops=INFO airflow.sdk.api.client=CRITICAL"

#: The evidence feeds' time zone: a row's business date, a file's delivery date (its
#: `arrived_at` is 00:00 there) and the dbt var `feed_timezone`. It is also the ops clock:
#: "today" (the default as-of date), the DAGs' start dates and Airflow's default time zone.
FEED_TIMEZONE = "Asia/Shanghai"
#: The time zone of an agreement's dates when its document names none (format v1 `timezone`).
#: The same zone as the feeds today; it may be changed on its own.
AGREEMENT_DEFAULT_TIMEZONE = FEED_TIMEZONE
#: The start date of every DAG of the project: midnight on the ops clock (`catchup=False`).
DAG_START_DATE = datetime(2026, 1, 1, tzinfo=ZoneInfo(FEED_TIMEZONE))
#: The project's slug in Cosmos' dbt docs plugin: the docs are served at `/cosmos/<slug>/dbt_docs_index.html`.
DBT_DOCS_SLUG = "partnerops"

#: Environment variables that switch off usage telemetry of Airflow, Cosmos and dbt.
NO_TELEMETRY_ENV: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "SCARF_NO_ANALYTICS": "true",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


def _project_root() -> Path:
    """The repository root for an editable install, else the working directory."""
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").exists() and (here / "dags").is_dir():
        return here
    return Path.cwd()


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        from partnerops.errors import UserError

        raise UserError(f"{name}={raw!r} is not a number; set it to e.g. {default}") from None


def _env_shares(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """A comma-separated list of shares between 0 and 1 (e.g. "0.5,0.75"); empty: the default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        shares = tuple(sorted({float(part) for part in raw.split(",") if part.strip()}))
    except ValueError:
        shares = ()
    if not shares or not all(1 <= round(s * 100) <= 99 for s in shares):
        from partnerops.errors import UserError

        raise UserError(f"{name}={raw!r}: give shares between 0.01 and 0.99 (whole percents), comma-separated, e.g. "
                        f"{','.join(f'{s:g}' for s in default)}")
    return shares


@dataclass(frozen=True)
class AlertSettings:
    """SLA alerts (see docs/alerts.md); every field has an environment variable.

    smtp_url: `PARTNEROPS_SMTP_URL`, an Airflow connection URI (smtp://host:port?disable_ssl=true...),
    exposed to the SMTP provider as `AIRFLOW_CONN_PARTNEROPS_SMTP` (which may be set instead);
    None means email is not sent.
    webhook_url: `PARTNEROPS_ALERTS_WEBHOOK_URL`, a Slack-compatible incoming webhook; None: off.
    webhook_secret: `PARTNEROPS_ALERTS_WEBHOOK_SECRET`, the key of the HMAC-SHA256 signature every
    webhook post carries (`alerts/signing.py`); required when the webhook is on.
    window_warning_shares: `PARTNEROPS_ALERTS_WINDOW_WARNINGS` ("0.5,0.75"), the shares of a
    deliverable's or quota's window at which an open instance is warned about (`window_<n>pct`).
    oncall_email: `PARTNEROPS_ONCALL_EMAIL`, who is told when a platform task fails or the
    tracking deadline is missed (`partnerops.oncall`; also posted to the webhook); None: nobody by email.
    """

    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    from_email: str = "partnerops-alerts@localhost"
    webhook_url: str | None = field(default=None, repr=False)  # its path is often the secret
    webhook_secret: str | None = field(default=None, repr=False)
    oncall_email: str | None = None
    escalate_after_hours: float = 48.0
    escalate_at_once_weight: float = 3.0
    max_attempts: int = 5
    max_lag_days: int = 7
    burn_rate_threshold: float = 1.0
    burn_rate_min_elapsed_share: float = 0.25
    window_warning_shares: tuple[float, ...] = (0.5, 0.75)
    digest: bool = False

    @classmethod
    def from_env(cls) -> AlertSettings:
        env = os.environ.get
        return cls(
            smtp_url=env("PARTNEROPS_SMTP_URL") or env("AIRFLOW_CONN_PARTNEROPS_SMTP") or None,
            from_email=env("PARTNEROPS_ALERTS_FROM") or cls.from_email,
            webhook_url=env("PARTNEROPS_ALERTS_WEBHOOK_URL") or None,
            webhook_secret=env("PARTNEROPS_ALERTS_WEBHOOK_SECRET") or None,
            oncall_email=(env("PARTNEROPS_ONCALL_EMAIL") or "").strip() or None,
            escalate_after_hours=_env_float("PARTNEROPS_ESCALATE_AFTER_HOURS", cls.escalate_after_hours),
            escalate_at_once_weight=_env_float("PARTNEROPS_ESCALATE_AT_ONCE_WEIGHT", cls.escalate_at_once_weight),
            max_attempts=int(_env_float("PARTNEROPS_ALERTS_MAX_ATTEMPTS", cls.max_attempts)),
            max_lag_days=int(_env_float("PARTNEROPS_ALERTS_MAX_LAG_DAYS", cls.max_lag_days)),
            burn_rate_threshold=_env_float("PARTNEROPS_ALERTS_BURN_RATE", cls.burn_rate_threshold),
            burn_rate_min_elapsed_share=_env_float("PARTNEROPS_ALERTS_BURN_RATE_MIN_ELAPSED",
                                                   cls.burn_rate_min_elapsed_share),
            window_warning_shares=_env_shares("PARTNEROPS_ALERTS_WINDOW_WARNINGS", cls.window_warning_shares),
            digest=(env("PARTNEROPS_ALERTS_DIGEST") or "").strip().lower() in ("1", "true", "yes", "on"),
        )


@dataclass(frozen=True)
class TimerSettings:
    """How long pipelines wait; production values by default, shortened by tests and demos.

    decision_window_minutes: `PARTNEROPS_DECISION_WINDOW_MINUTES`, how long a per-agreement
    run waits for account-manager decisions (and keeps at-risk commitments open) when its
    conf does not say (`decision_window_minutes`); default 20 hours.
    retry_delay_seconds: `PARTNEROPS_RETRY_DELAY_SECONDS`, when set, replaces the DAGs' own
    delays between a failed task's retries (see `retry_delay`).
    """

    decision_window_minutes: float = 20 * 60
    retry_delay_seconds: float | None = None

    @classmethod
    def from_env(cls) -> TimerSettings:
        delay = os.environ.get("PARTNEROPS_RETRY_DELAY_SECONDS", "").strip()
        return cls(
            decision_window_minutes=_env_float("PARTNEROPS_DECISION_WINDOW_MINUTES", cls.decision_window_minutes),
            retry_delay_seconds=_env_float("PARTNEROPS_RETRY_DELAY_SECONDS", 0.0) if delay else None,
        )

    @property
    def decision_window(self) -> timedelta:
        return timedelta(minutes=self.decision_window_minutes)

    def retry_delay(self, production: timedelta) -> timedelta:
        """A DAG's delay between retries: `production`, unless PARTNEROPS_RETRY_DELAY_SECONDS is set."""
        return production if self.retry_delay_seconds is None else timedelta(seconds=self.retry_delay_seconds)


@dataclass(frozen=True)
class Settings:
    """Typed view of the environment.

    database_url: `PARTNEROPS_DATABASE_URL`; None means "start the embedded server" (the
    command line only: tasks use the Airflow connection, see `partnerops.db.database_url`).
    data_dir: `PARTNEROPS_DATA_DIR`, this host's runtime state (never committed), default `<root>/var`.
    state_base_url: `PARTNEROPS_STATE_BASE`, where the state several hosts share lives
    (registry, dbt manifest and docs, inboxes, quarantine; see `partnerops.state`): a
    `file://` folder, or `s3://<conn_id>@bucket/prefix`, `gs://...` through the provider's
    filesystem. None: `file://<data_dir>`, the layout of `var/` (`state_base`).
    """

    project_root: Path
    database_url: str | None = field(repr=False)  # may hold a password
    data_dir: Path
    agreements_inbox: Path
    state_base_url: str | None = None
    alerts: AlertSettings = field(default_factory=AlertSettings.from_env)
    #: `PARTNEROPS_EVIDENCE_DATE_MARGIN_DAYS`: evidence dated more than this many days before the
    #: earliest term start or after the latest term end of the agreements taken in (without any
    #: agreement: around the file's delivery date) is implausible and quarantined.
    evidence_date_margin_days: int = 366
    #: `PARTNEROPS_RETENTION_MARGIN_DAYS`: raw order and shipment detail is kept this many days
    #: beyond the last threshold window that can read it, and at least until that window is
    #: frozen (partnerops.evidence.retention); `off` keeps it forever.
    retention_margin_days: int | None = 90
    timers: TimerSettings = field(default_factory=TimerSettings.from_env)

    @property
    def state_base(self) -> str:
        """The base of the shared state: `PARTNEROPS_STATE_BASE`, else `file://<data_dir>`."""
        return self.state_base_url or self.data_dir.as_uri()

    @property
    def shared_dir(self) -> Path:
        """The shared state on this host: the folder of a `file://` base, else its local copy (`partnerops.state`)."""
        return _shared_dir(self.state_base, self.data_dir)

    @property
    def dbt_docs_location(self) -> str:
        """The dbt docs as the UI reads them: a folder, or the URL under an object-storage base."""
        if self.state_base.startswith("file://"):
            return str(self.dbt_docs_dir)
        return self.state_base.rstrip("/") + "/dbt/docs"

    @property
    def registry_path(self) -> Path:
        """The registry snapshot that intake writes and DAG files read at parse time."""
        return self.shared_dir / "registry" / "agreements.json"

    @property
    def quarantine_dir(self) -> Path:
        """Where rejected input files are set aside, next to a note of why."""
        return self.shared_dir / "quarantine"

    @property
    def evidence_inbox(self) -> Path:
        """Where evidence feed files are delivered (`<feed>/<feed>_<date>...`); the evidence DAGs load from here."""
        return self.shared_dir / "inbox" / "evidence"

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.data_dir / "airflow"

    @property
    def airflow_passwords_file(self) -> Path:
        """The simple auth manager's passwords file (the UI login); `partnerops admin-password` writes it."""
        return self.airflow_home / "simple_auth_manager_passwords.json"

    @property
    def dags_folder(self) -> Path:
        return self.project_root / "dags"

    @property
    def plugins_folder(self) -> Path:
        return self.project_root / "plugins"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_root / "dbt_project"

    @property
    def dbt_docs_dir(self) -> Path:
        """Where each tracking run writes the dbt docs (index.html, manifest, catalog); Airflow serves them."""
        return self.shared_dir / "dbt" / "docs"

    @property
    def dbt_manifest_path(self) -> Path:
        """The dbt manifest the tracking DAG renders from (`partnerops dbt-manifest` writes it)."""
        return self.shared_dir / "dbt" / "manifest.json"


def _shared_dir(state_base: str, data_dir: Path) -> Path:
    """The folder of a `file://` base; for object storage, its local copy under the data folder."""
    if state_base.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return Path(unquote(urlsplit(state_base).path)).resolve()
    return data_dir / "state"


def _normalise_url(url: str | None) -> str | None:
    """Accept the `postgres://` spelling that Airflow connections often use, as libpq does."""
    if not url:
        return None
    return "postgresql://" + url.removeprefix("postgres://") if url.startswith("postgres://") else url


def get_settings() -> Settings:
    root = Path(os.environ.get("PARTNEROPS_HOME") or _project_root()).resolve()
    data_dir = Path(os.environ.get("PARTNEROPS_DATA_DIR") or root / "var").resolve()
    state_base = (os.environ.get("PARTNEROPS_STATE_BASE") or "").strip() or None
    shared = _shared_dir(state_base or data_dir.as_uri(), data_dir)
    inbox = os.environ.get("PARTNEROPS_AGREEMENTS_INBOX") or shared / "inbox" / "agreements"
    return Settings(
        project_root=root,
        # The same URL may arrive as the Airflow connection `partnerops_db` (AIRFLOW_CONN_...).
        database_url=_normalise_url(
            os.environ.get("PARTNEROPS_DATABASE_URL") or os.environ.get(f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}")
        ),
        data_dir=data_dir,
        agreements_inbox=Path(inbox).resolve(),
        state_base_url=state_base,
        evidence_date_margin_days=int(_env_float("PARTNEROPS_EVIDENCE_DATE_MARGIN_DAYS", 366)),
        retention_margin_days=_retention_margin(),
    )


def _retention_margin() -> int | None:
    raw = os.environ.get("PARTNEROPS_RETENTION_MARGIN_DAYS", "").strip()
    if raw.lower() == "off":
        return None
    days = _env_float("PARTNEROPS_RETENTION_MARGIN_DAYS", 90)
    if days < 0:
        from partnerops.errors import UserError

        raise UserError(f"PARTNEROPS_RETENTION_MARGIN_DAYS must be a number of days (0 or more) or off, got {raw!r}")
    return int(days)


#: The Airflow UI's administrator login; its password is set by `partnerops admin-password`.
AIRFLOW_ADMIN_USER = "admin"
#: The deployed setup's auth manager (FAB): roles, people and per-DAG permissions from
#: `partnerops users sync` (`partnerops.people`).
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
#: Local runs (`make serve`, the tests, `partnerops airflow`) keep the simple auth manager:
#: `admin`, plus one login per account manager of the registry that `AirflowRuntime` adds
#: (`partnerops.people.simple_auth_users`).
LOCAL_AUTH_CONFIG: dict[str, str] = {
    "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_ADMIN_USER}:admin",
}

#: Airflow's configuration that does not depend on the host: the same keys and values for
#: local runs (`airflow_environ`), docker-compose.yml's `x-airflow-common` environment and
#: the Helm chart's `env` (deploy/helm/values.yaml); tests/deploy checks that they agree.
AIRFLOW_CONFIG: dict[str, str] = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "30",
    "AIRFLOW__CORE__DEFAULT_TIMEZONE": FEED_TIMEZONE,
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    # ... but the project's operators at INFO, and no "XCom not found" noise (LOG_NAMESPACE_LEVELS)
    "AIRFLOW__LOGGING__NAMESPACE_LEVELS": LOG_NAMESPACE_LEVELS,
    "AIRFLOW__API__EXPOSE_CONFIG": "False",
    # The UI login: the FAB auth manager; `partnerops admin-password` sets the `admin` login
    # and `partnerops users sync` the people (README, "Security"). Local runs replace it with
    # the simple auth manager (LOCAL_AUTH_CONFIG).
    "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
    # Cosmos WATCHER: back up the producer's XComs to a Variable only when it fails. Its
    # default re-writes the whole, growing backup through the API on every dbt event.
    "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
    # Cosmos names its lineage namespace from [openlineage] namespace and warned "section/key
    # [openlineage/namespace] not found" in every process that imports it; name it.
    "AIRFLOW__OPENLINEAGE__NAMESPACE": "partnerops",
    # CeleryExecutor (docker-compose's workers; other executors ignore these). A task's message
    # is acknowledged when the task ends, so a worker that dies mid-task loses no message; each
    # worker process reserves one task at a time, so a dead worker holds no queued task hostage;
    # Redis hands an unacknowledged message to another worker only after `visibility_timeout`
    # seconds, which must stay above the longest task (the dbt build). A task whose worker died
    # stops heartbeating and is retried by the scheduler after `[scheduler]
    # task_instance_heartbeat_timeout`; every task is safe to re-run (docs/deploy.md).
    "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
    **NO_TELEMETRY_ENV,
}

#: The keys of `airflow_environ` whose values are paths on the host (or in the container):
#: where the code and the runtime state are. Everything else comes from `AIRFLOW_CONFIG`.
AIRFLOW_PATH_KEYS: tuple[str, ...] = (
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__PLUGINS_FOLDER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS",
    "PARTNEROPS_HOME",
    "PARTNEROPS_DATA_DIR",
    "PARTNEROPS_STATE_BASE",
    "PARTNEROPS_AGREEMENTS_INBOX",
)


def airflow_environ(settings: Settings, database_url: str | None = None, *, local_auth: bool = True
                    ) -> dict[str, str]:
    """Environment for running Airflow against this project, with no `~/airflow`.

    `AIRFLOW_CONFIG` (examples off, telemetry off, the ops time zone, the login) plus the
    paths of this host (`AIRFLOW_PATH_KEYS`): Airflow keeps its home (logs, the UI's
    passwords file) under the data folder and reads DAGs and plugins from the repository.
    The project database is exposed as the Airflow connection `partnerops_db`.
    `local_auth`: the simple auth manager (LOCAL_AUTH_CONFIG) instead of the deployed FAB.
    """
    paths = {
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.plugins_folder),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(settings.airflow_passwords_file),
        # Cosmos' docs plugin serves the dbt docs the tracking run writes, inside the UI
        # (Browse > dbt docs, /cosmos/partnerops/dbt_docs_index.html); the Partnerships view links there.
        "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS": json.dumps(
            {DBT_DOCS_SLUG: {"dir": settings.dbt_docs_location, "index": "index.html", "name": "dbt docs"}}),
        "PARTNEROPS_HOME": str(settings.project_root),
        "PARTNEROPS_DATA_DIR": str(settings.data_dir),
        "PARTNEROPS_STATE_BASE": settings.state_base,
        "PARTNEROPS_AGREEMENTS_INBOX": str(settings.agreements_inbox),
    }
    env = {**paths, **AIRFLOW_CONFIG, **(LOCAL_AUTH_CONFIG if local_auth else {})}
    url = database_url or settings.database_url
    if url:
        env["PARTNEROPS_DATABASE_URL"] = url
        env[f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}"] = url
    return env

"""The project's settings, read from the environment in one place.

Every module asks `get_settings()` rather than reading environment variables itself, so
the names and defaults below are the whole configuration surface. Nothing is cached: the
CLI, the DAGs and the tests may change the environment between calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

#: The Airflow connection id under which DAGs find the project database.
AIRFLOW_CONN_ID = "partnerops_db"

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


@dataclass(frozen=True)
class AlertSettings:
    """SLA alerts (see docs/alerts.md); every field has an environment variable.

    smtp_url: `PARTNEROPS_SMTP_URL`, an Airflow connection URI (smtp://host:port?disable_ssl=true...),
    exposed to the SMTP provider as `AIRFLOW_CONN_PARTNEROPS_SMTP` (which may be set instead);
    None means email is not sent.
    webhook_url: `PARTNEROPS_ALERTS_WEBHOOK_URL`, a Slack-compatible incoming webhook; None: off.
    """

    smtp_url: str | None = None
    from_email: str = "partnerops-alerts@localhost"
    webhook_url: str | None = None
    escalate_after_hours: float = 48.0
    escalate_at_once_weight: float = 3.0
    max_attempts: int = 5
    max_lag_days: int = 7
    burn_rate_threshold: float = 1.0
    burn_rate_min_elapsed_share: float = 0.25
    digest: bool = False

    @classmethod
    def from_env(cls) -> AlertSettings:
        env = os.environ.get
        return cls(
            smtp_url=env("PARTNEROPS_SMTP_URL") or env("AIRFLOW_CONN_PARTNEROPS_SMTP") or None,
            from_email=env("PARTNEROPS_ALERTS_FROM") or cls.from_email,
            webhook_url=env("PARTNEROPS_ALERTS_WEBHOOK_URL") or None,
            escalate_after_hours=_env_float("PARTNEROPS_ESCALATE_AFTER_HOURS", cls.escalate_after_hours),
            escalate_at_once_weight=_env_float("PARTNEROPS_ESCALATE_AT_ONCE_WEIGHT", cls.escalate_at_once_weight),
            max_attempts=int(_env_float("PARTNEROPS_ALERTS_MAX_ATTEMPTS", cls.max_attempts)),
            max_lag_days=int(_env_float("PARTNEROPS_ALERTS_MAX_LAG_DAYS", cls.max_lag_days)),
            burn_rate_threshold=_env_float("PARTNEROPS_ALERTS_BURN_RATE", cls.burn_rate_threshold),
            burn_rate_min_elapsed_share=_env_float("PARTNEROPS_ALERTS_BURN_RATE_MIN_ELAPSED",
                                                   cls.burn_rate_min_elapsed_share),
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

    database_url: `PARTNEROPS_DATABASE_URL`; None means "start the embedded server".
    data_dir: `PARTNEROPS_DATA_DIR`, runtime state (never committed), default `<root>/var`.
    """

    project_root: Path
    database_url: str | None
    data_dir: Path
    agreements_inbox: Path
    alerts: AlertSettings = field(default_factory=AlertSettings.from_env)
    timers: TimerSettings = field(default_factory=TimerSettings.from_env)

    @property
    def registry_path(self) -> Path:
        """The registry snapshot that intake writes and DAG files read at parse time."""
        return self.data_dir / "registry" / "agreements.json"

    @property
    def quarantine_dir(self) -> Path:
        """Where rejected input files are set aside, next to a note of why."""
        return self.data_dir / "quarantine"

    @property
    def evidence_inbox(self) -> Path:
        """Where evidence feed files are delivered (`<feed>/<feed>_<date>...`); the evidence DAGs load from here."""
        return self.data_dir / "inbox" / "evidence"

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.data_dir / "airflow"

    @property
    def dags_folder(self) -> Path:
        return self.project_root / "dags"

    @property
    def plugins_folder(self) -> Path:
        return self.project_root / "plugins"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_root / "dbt_project"


def _normalise_url(url: str | None) -> str | None:
    """Accept the `postgres://` spelling that Airflow connections often use, as libpq does."""
    if not url:
        return None
    return "postgresql://" + url.removeprefix("postgres://") if url.startswith("postgres://") else url


def get_settings() -> Settings:
    root = Path(os.environ.get("PARTNEROPS_HOME") or _project_root()).resolve()
    data_dir = Path(os.environ.get("PARTNEROPS_DATA_DIR") or root / "var").resolve()
    inbox = os.environ.get("PARTNEROPS_AGREEMENTS_INBOX") or data_dir / "inbox" / "agreements"
    return Settings(
        project_root=root,
        # The same URL may arrive as the Airflow connection `partnerops_db` (AIRFLOW_CONN_...).
        database_url=_normalise_url(
            os.environ.get("PARTNEROPS_DATABASE_URL") or os.environ.get(f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}")
        ),
        data_dir=data_dir,
        agreements_inbox=Path(inbox).resolve(),
    )


def airflow_environ(settings: Settings, database_url: str | None = None) -> dict[str, str]:
    """Environment for running Airflow against this project, with no `~/airflow`.

    Airflow keeps its home (metadata database, logs) under the data folder, reads DAGs and
    plugins from the repository, loads no examples, and sends no telemetry. The project
    database is exposed as the Airflow connection `partnerops_db`.
    """
    env = {
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.plugins_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "30",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        # Cosmos WATCHER: back up the producer's XComs to a Variable only when it fails. Its
        # default re-writes the whole, growing backup through the API on every dbt event.
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        "PARTNEROPS_HOME": str(settings.project_root),
        "PARTNEROPS_DATA_DIR": str(settings.data_dir),
        "PARTNEROPS_AGREEMENTS_INBOX": str(settings.agreements_inbox),
        **NO_TELEMETRY_ENV,
    }
    url = database_url or settings.database_url
    if url:
        env["PARTNEROPS_DATABASE_URL"] = url
        env[f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}"] = url
    return env

"""The project's settings, read from the environment in one place.

Every module asks `get_settings()` rather than reading environment variables itself, so
the names and defaults below are the whole configuration surface. Nothing is cached: the
CLI, the DAGs and the tests may change the environment between calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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


def get_settings() -> Settings:
    root = Path(os.environ.get("PARTNEROPS_HOME") or _project_root()).resolve()
    data_dir = Path(os.environ.get("PARTNEROPS_DATA_DIR") or root / "var").resolve()
    inbox = os.environ.get("PARTNEROPS_AGREEMENTS_INBOX") or data_dir / "inbox" / "agreements"
    return Settings(
        project_root=root,
        # The same URL may arrive as the Airflow connection `partnerops_db` (AIRFLOW_CONN_...).
        database_url=os.environ.get("PARTNEROPS_DATABASE_URL")
        or os.environ.get(f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}")
        or None,
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

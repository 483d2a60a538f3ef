"""Running the dbt project (`dbt_project/`) against the project database.

The command line's dbt (`partnerops status --refresh`, `make demo`, `make docs`, the tests)
runs on the URL of `partnerops.db.database_url()`: dbt's profile cannot read a URL, so
`dbt_env(url)` splits it into the `PARTNEROPS_DB_*` variables that
`dbt_project/profiles.yml` reads. `run_dbt(...)` runs the dbt CLI with that environment,
telemetry off, the feed time zone (`settings.FEED_TIMEZONE`) as a dbt var, and the run's
dates (`RUN_DATE_VARS`: the as-of date, ...) in the environment (`run_date_env`), which the
models read when they run: a new date then reuses the parsed project, where a new --vars
value makes dbt parse it all again. In Airflow, Cosmos builds the profile from the Airflow
connection instead (`partnerops.tracking.profile_mapping`), with the same vars (`dbt_vars`,
the as-of date among them), schema and threads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from partnerops.errors import UserError
from partnerops.settings import FEED_TIMEZONE, NO_TELEMETRY_ENV, get_settings

__all__ = ["dbt_env", "dbt_executable", "dbt_vars", "run_date_env", "run_dbt", "MARTS_SCHEMA", "PG_OPTIONS",
           "RUN_DATE_VARS"]

#: The schema the public marts are built in (see dbt_project/macros/generate_schema_name.sql).
MARTS_SCHEMA = "marts"

#: Session options for dbt's connections (through libpq's PGOPTIONS).
PG_OPTIONS = "-c jit=off"

#: The dbt vars that change from run to run. `run_dbt` passes them as PARTNEROPS_DBT_VAR_<NAME>
#: environment variables, which `date_var` (dbt_project/macros/as_of.sql) reads when a model
#: runs: dbt parses the whole project again when --vars change (about 4 s of CPU a run).
RUN_DATE_VARS = ("as_of", "as_of_from", "history_start")
RUN_DATE_ENV_PREFIX = "PARTNEROPS_DBT_VAR_"


def dbt_env(url: str) -> dict[str, str]:
    """The `PARTNEROPS_DB_*` variables for `profiles.yml`, from a PostgreSQL URL.

    The host may be a unix-socket directory, given either as `?host=/dir` (libpq style, as
    the embedded server gives it) or percent-encoded in the netloc.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise UserError(f"the database URL must start with postgresql://, not {parts.scheme or '(nothing)'}://")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.get("host") or unquote(parts.hostname or "") or "127.0.0.1"
    port = query.get("port") or (str(parts.port) if parts.port else "5432")
    user = query.get("user") or unquote(parts.username or "") or os.environ.get("USER", "postgres")
    password = query.get("password") or unquote(parts.password or "")
    name = query.get("dbname") or unquote(parts.path.lstrip("/")) or user
    return {
        "PARTNEROPS_DB_HOST": host,
        "PARTNEROPS_DB_PORT": port,
        "PARTNEROPS_DB_USER": user,
        "PARTNEROPS_DB_PASSWORD": password,
        "PARTNEROPS_DB_NAME": name,
        # The models are many small queries whose plans look costly: JIT compilation would
        # cost about a second each and save nothing. libpq reads PGOPTIONS.
        "PGOPTIONS": PG_OPTIONS,
    }


def dbt_vars(as_of: date | str | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `--vars` mapping: the feed time zone (from the settings), the as-of date (ISO), any extra vars."""
    out: dict[str, Any] = {"feed_timezone": FEED_TIMEZONE, **(extra or {})}
    if as_of is not None:
        out["as_of"] = as_of.isoformat() if isinstance(as_of, date) else str(date.fromisoformat(str(as_of)))
    return out


def run_date_env(merged_vars: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Split `dbt_vars(...)` into the --vars that stay and the run's dates as environment variables.

    Every RUN_DATE_VARS name gets an entry: its value, or None (to unset) when not given, so
    that no date from the caller's own environment leaks into the run.
    """
    vars_ = dict(merged_vars)
    env = {}
    for name in RUN_DATE_VARS:
        value = vars_.pop(name, None)
        env[RUN_DATE_ENV_PREFIX + name.upper()] = None if value is None else str(value)
    return vars_, env


def dbt_executable() -> str:
    """The `dbt` next to this Python (the project's virtualenv), else the one on PATH."""
    found = shutil.which("dbt", path=str(Path(sys.executable).parent)) or shutil.which("dbt")
    if not found:
        raise UserError("the dbt command is not installed; run `make venv` to install the pinned dependencies")
    return found


def run_dbt(
    args: Sequence[str],
    *,
    as_of: date | str | None = None,
    url: str | None = None,
    vars: Mapping[str, Any] | None = None,
    project_dir: Path | None = None,
    target_path: Path | None = None,
    capture: bool = False,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` on the project database; raises UserError when dbt fails (if `check`).

    `url` defaults to the configured database (starting the embedded server if none is set).
    `target_path` keeps artefacts apart when several runs share a checkout (tests).
    """
    from partnerops.db import database_url

    settings = get_settings()
    project_dir = project_dir or settings.dbt_project_dir
    url = url or database_url(settings)
    env = {**os.environ, **NO_TELEMETRY_ENV, **dbt_env(url), "DO_NOT_TRACK": "1"}
    if target_path is not None:
        env["DBT_TARGET_PATH"] = str(target_path)
        env["DBT_LOG_PATH"] = str(target_path / "logs")
    cmd = [dbt_executable(), *args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    merged, dates = run_date_env(dbt_vars(as_of, vars))
    for name, value in dates.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    if merged:
        cmd += ["--vars", json.dumps(merged)]
    proc = subprocess.run(cmd, env=env, cwd=project_dir, text=True, capture_output=capture, check=False)
    if check and proc.returncode != 0:
        tail = ""
        if capture:
            lines = (proc.stdout + proc.stderr).strip().splitlines()
            tail = "\n" + "\n".join(lines[-40:])
        raise UserError(f"dbt {' '.join(args)} failed (exit {proc.returncode}){tail}")
    return proc

"""The deployed login (FAB auth manager) for the tests' Airflow, set up as docker-compose's airflow-init does.

`prepare_fab(af)`, before the components start: FAB's tables in the metadata database (the
session's template has them when the FAB provider was installed first), then the `admin`
login from `partnerops admin-password`. `write_people` and `partnerops_cli(env, "users",
"sync", ...)` add the people; their passwords are in `settings.airflow_passwords_file`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2

from partnerops.airflow_runtime import AirflowRuntime

#: The escalation person of the tests' people files (role Op), and a reader of everything (role Viewer).
OPS_LEAD = "ops.lead@partners.example.com"
VIEWER = "auditor@partners.example.com"


def partnerops_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`partnerops ARGS` as a deployment runs it: a subprocess with the components' environment."""
    exe = shutil.which("partnerops", path=str(Path(sys.executable).parent)) or "partnerops"
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300)


def has_fab_tables(af: AirflowRuntime) -> bool:
    with psycopg2.connect(af.meta_url.replace("postgresql+psycopg2://", "postgresql://", 1)) as conn, \
            conn.cursor() as cur:
        cur.execute("select to_regclass('public.ab_user') is not null")
        found = cur.fetchone()[0]
    conn.close()
    return found


def prepare_fab(af: AirflowRuntime) -> subprocess.CompletedProcess[str]:
    """FAB's tables and the `admin` login (the runtime's password); what `admin-password` said."""
    if not has_fab_tables(af):
        af.migrate()
    admin = partnerops_cli({**af.env, "AIRFLOW_ADMIN_PASSWORD": af.password}, "admin-password")
    assert admin.returncode == 0, admin.stderr[-3000:]
    return admin


def write_people(path: Path, people: dict[str, str]) -> Path:
    """The people file (`partnerops users sync`): login -> role; the Op is the escalation person."""
    path.write_text(json.dumps({"format_version": 1, "people": [
        {"email": login, "name": login.split("@")[0].replace(".", " ").title(), "role": role,
         **({"escalation": True} if role == "Op" else {})} for login, role in people.items()]}))
    return path

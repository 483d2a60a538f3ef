"""What the deployment checks share: the files, the settings of the image's layout, the checkers.

No Docker engine is needed: the compose file is read as YAML and validated by
`docker-compose config`, commands are checked against the parsers of the Airflow and
partnerops CLIs, and the Helm values are read as YAML.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from partnerops.settings import AIRFLOW_CONN_ID, Settings, airflow_environ, get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
HELM_VALUES = REPO_ROOT / "deploy" / "helm" / "values.yaml"

#: The two spellings of the one warehouse setting; in a deployment they come from a secret.
DATABASE_URL_KEYS = ("PARTNEROPS_DATABASE_URL", f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}")

#: Names of variables and settings that hold a secret (or a URL that may carry one).
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|AUTH(?!_MANAGER)|_CONN\b|_CONN_|DATABASE_URL|BROKER_URL"
                         r"|RESULT_BACKEND|SMTP_URL|WEBHOOK_URL")
#: `${VAR}`, `${VAR:-default}`, `${VAR:?message}` (not `$${...}`, which compose leaves to the shell).
VAR_REF = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
#: A URL with a password in it: scheme://user:password@host.
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]*:[^@/\s]+@", re.IGNORECASE)


def variable_refs(path: Path) -> list[re.Match[str]]:
    """The `${...}` references of a file, comment lines aside."""
    return [ref for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")
            for ref in VAR_REF.finditer(line)]


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    """The variables `.env.example` sets (comments and blank lines aside)."""
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            pairs[name.strip()] = value
    return pairs


def dockerfile_env() -> dict[str, str]:
    """The `ENV` of the Dockerfile (NAME=value pairs, continuation lines joined)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(part.split("=", 1) for part in shlex.split(line[4:])))
    return env


def image_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings inside the image: its `PARTNEROPS_HOME` and `PARTNEROPS_DATA_DIR`."""
    for name in ("PARTNEROPS_DATABASE_URL", "AIRFLOW_CONN_PARTNEROPS_DB", "PARTNEROPS_AGREEMENTS_INBOX"):
        monkeypatch.delenv(name, raising=False)
    image_env = dockerfile_env()
    monkeypatch.setenv("PARTNEROPS_HOME", image_env["PARTNEROPS_HOME"])
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", image_env["PARTNEROPS_DATA_DIR"])
    return get_settings()


def expected_airflow_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`airflow_environ()` for the image's layout (the deployed FAB login), without the database URL (a secret)."""
    return airflow_environ(image_settings(monkeypatch), local_auth=False)


def secret_literals(text: str, where: str) -> list[str]:
    """Secrets written into a file, line by line, as `where:line: reason`.

    No variable that holds a secret may have a default (`${REDIS_PASSWORD:-x}`), and no URL
    may carry a password that is not a variable (`redis://:x@redis`).
    """
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for ref in VAR_REF.finditer(line):
            if SECRET_NAME.search(ref["name"]) and ref["op"] in ("-", ":-") and ref["arg"]:
                problems.append(f"{where}:{number}: ${{{ref['name']}}} has a default value")
        if URL_WITH_PASSWORD.search(VAR_REF.sub("", line)):
            problems.append(f"{where}:{number}: a URL with a password written in")
    return problems


def environment_secret_literals(environment: dict[str, Any], where: str) -> list[str]:
    """Settings named like secrets whose value is not a required variable (`${VAR:?...}`).

    An optional channel may be switched off by an empty default (`${PARTNEROPS_SMTP_URL:-}`).
    """
    problems = []
    for key, value in environment.items():
        if not SECRET_NAME.search(key) or key.endswith("_FILE") or value in (None, ""):
            continue
        refs = list(VAR_REF.finditer(str(value)))
        if not refs or any(r["op"] not in (":?", "?") and r["arg"] for r in refs):
            problems.append(f"{where}: {key} is not taken from a required variable (${{VAR:?...}})")
    return problems


def airflow_command_problems(commands: list[list[str]], airflow_home: Path) -> list[str]:
    """For each `airflow ...` argument list, why Airflow's own CLI parser refuses it (empty: all real).

    The parser is Airflow's (`airflow.cli.cli_parser.get_parser`, with the providers' commands
    such as `celery`), in a subprocess with a scratch AIRFLOW_HOME; nothing is started.
    """
    script = """
import contextlib, io, json, sys
from airflow.cli.cli_parser import get_parser
problems = []
for args in json.loads(sys.stdin.read()):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            ns = get_parser().parse_args(args)
        if not callable(getattr(ns, "func", None)):
            problems.append(f"airflow {' '.join(args)}: not a command")
    except SystemExit:
        problems.append(f"airflow {' '.join(args)}: " + err.getvalue().strip().splitlines()[-1])
print(json.dumps(problems))
"""
    env = {"PATH": str(Path(sys.executable).parent), "AIRFLOW_HOME": str(airflow_home),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "DO_NOT_TRACK": "1", "SCARF_ANALYTICS": "false"}
    proc = subprocess.run([sys.executable, "-c", script], input=json.dumps(commands), capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def partnerops_command_problems(commands: list[list[str]]) -> list[str]:
    """For each `partnerops ...` argument list, why the partnerops CLI parser refuses it."""
    import contextlib
    import io

    from partnerops.cli import build_parser

    problems = []
    for args in commands:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(args)
        except SystemExit:
            problems.append(f"partnerops {' '.join(args)}: " + (err.getvalue().strip().splitlines() or ["?"])[-1])
    return problems


def script_commands(script: str) -> list[list[str]]:
    """The `airflow ...` and `partnerops ...` lines of a shell script, as argument lists."""
    commands = []
    for line in script.splitlines():
        words = shlex.split(line.replace("$$", "$"), comments=True) if line.strip() else []
        if words and words[0] in ("airflow", "partnerops"):
            commands.append(words)
    return commands

"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine.

`docker-compose config` (Debian's docker-compose 1.29; `.ci/run` installs it) validates the
file and its interpolation. Without it these tests fail rather than skip: they are the only
check that the compose file is valid. Docker's plugin (`docker compose`) is used when the
standalone command is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from deploy_files import (
    COMPOSE_FILE,
    DATABASE_URL_KEYS,
    DOCKERFILE,
    ENV_EXAMPLE,
    VAR_REF,
    airflow_command_problems,
    dockerfile_env,
    env_example,
    environment_secret_literals,
    expected_airflow_env,
    load_yaml,
    partnerops_command_problems,
    script_commands,
    secret_literals,
    variable_refs,
)

from partnerops.settings import AIRFLOW_CONFIG, AIRFLOW_PATH_KEYS

#: The compose environment's own keys: what this deployment adds to `airflow_environ()`
#: (executor, databases, broker, secrets, the alert channels passed through from .env).
#: Local runs set their own (LocalExecutor, a generated secret, ...) in airflow_runtime.
DEPLOYMENT_KEYS = frozenset({
    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__WORKER_CONCURRENCY",
    "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
    *DATABASE_URL_KEYS,
    "PARTNEROPS_SMTP_URL", "PARTNEROPS_ALERTS_FROM", "PARTNEROPS_ALERTS_WEBHOOK_URL",
    "PARTNEROPS_ALERTS_WEBHOOK_SECRET", "PARTNEROPS_ONCALL_EMAIL",
    # each component's own database login (docs/deploy.md, Database roles); optional
    "AIRFLOW_CONN_PARTNEROPS_LOADER", "AIRFLOW_CONN_PARTNEROPS_TRANSFORMER", "AIRFLOW_CONN_PARTNEROPS_ALERTS",
    "AIRFLOW_CONN_PARTNEROPS_READER",
})
#: Services that run once and exit; every other service runs until stopped.
ONE_SHOT = frozenset({"airflow-init"})


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.fail("docker-compose is not installed: `apt-get install -y docker-compose` (Debian; .ci/run does it), "
                "or Docker's compose plugin")


def _compose_config(tmp_path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` on a copy of the project's compose file, with `env` as its .env only."""
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # nothing from the caller's environment
    return subprocess.run([*_compose_command(), *extra, "config", "-q"], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=120, check=False)


def _required_variables() -> list[str]:
    return sorted({m["name"] for m in variable_refs(COMPOSE_FILE) if m["op"] in (":?", "?")})


def test_compose_config_passes_with_the_env_example(tmp_path: Path) -> None:
    for profile in ([], ["--profile", "dev"]):
        proc = _compose_config(tmp_path, env_example(), *profile)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("secret", _required_variables())
def test_compose_refuses_to_start_without_each_secret(tmp_path: Path, secret: str) -> None:
    env = env_example()
    del env[secret]
    proc = _compose_config(tmp_path, env)
    assert proc.returncode != 0
    assert f"set {secret} in .env" in proc.stderr, proc.stderr


def test_every_secret_is_required_and_none_is_written_in(compose: dict[str, Any]) -> None:
    required = set(_required_variables())
    assert {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_API_SECRET_KEY",
            "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_METADATA_DATABASE_URL",
            "PARTNEROPS_DATABASE_URL", "FLOWER_PASSWORD"} <= required
    problems = secret_literals(COMPOSE_FILE.read_text(encoding="utf-8"), "docker-compose.yml")
    problems += secret_literals(DOCKERFILE.read_text(encoding="utf-8"), "Dockerfile")
    for name, service in compose["services"].items():
        problems += environment_secret_literals(service.get("environment") or {}, f"services.{name}.environment")
    problems += environment_secret_literals(dockerfile_env(), "Dockerfile ENV")
    assert not re.search(r"^\s*ARG\s", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE), "no build arguments"
    assert problems == []


def test_the_secret_checks_catch_a_written_in_secret() -> None:
    bad = ("    AIRFLOW__CELERY__BROKER_URL: redis://:hunter22@redis:6379/0\n"
           "    AIRFLOW__CORE__FERNET_KEY: ${AIRFLOW_FERNET_KEY:-c2VjcmV0}\n")
    assert len(secret_literals(bad, "x")) == 2
    assert environment_secret_literals({"AIRFLOW__API__SECRET_KEY": "abc"}, "x")
    assert environment_secret_literals({"REDISCLI_AUTH": "${REDIS_PASSWORD:-redis}"}, "x")
    assert not environment_secret_literals({"PARTNEROPS_SMTP_URL": "${PARTNEROPS_SMTP_URL:-}",
                                            "AIRFLOW__API__SECRET_KEY": "${AIRFLOW_API_SECRET_KEY:?set it}"}, "x")


def test_every_variable_is_documented_in_the_env_example() -> None:
    documented = env_example()
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    used = {m["name"] for m in variable_refs(COMPOSE_FILE)}
    assert used - set(documented) == set()
    # ... each with a comment above it (in its paragraph), not a bare NAME=value.
    paragraphs = re.split(r"\n\s*\n", text)
    for name in used:
        paragraph = next(p for p in paragraphs if re.search(rf"^{name}=", p, re.MULTILINE))
        assert paragraph.lstrip().startswith("#"), f".env.example: {name} has no comment"
    # Every placeholder secret says so, and airflow-init refuses to run with one left.
    for name in _required_variables():
        if re.search(r"PASSWORD|SECRET|KEY", name):
            assert "change-me" in documented[name], name


def test_the_warehouse_is_its_own_database_in_the_env_example() -> None:
    from urllib.parse import urlsplit

    env = env_example()
    warehouse, metadata = urlsplit(env["PARTNEROPS_DATABASE_URL"]), urlsplit(env["AIRFLOW_METADATA_DATABASE_URL"])
    assert warehouse.path != metadata.path  # the same server by default, never the same database
    assert warehouse.path == "/partnerops" and "create database partnerops" in (
        COMPOSE_FILE.parent / "deploy" / "postgres" / "initdb.sql").read_text(encoding="utf-8")


def test_airflow_settings_are_the_settings_definition(compose: dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """x-airflow-common's environment is `airflow_environ()` for the image's layout, plus the deployment's keys."""
    expected = expected_airflow_env(monkeypatch)
    common = compose["x-airflow-common"]["environment"]
    assert set(expected) == set(AIRFLOW_CONFIG) | set(AIRFLOW_PATH_KEYS)
    assert {k: str(common.get(k)) for k in expected} == expected
    assert set(common) - set(expected) == DEPLOYMENT_KEYS
    # The warehouse: one variable, under both names; the metadata database is another one.
    assert {common[k] for k in DATABASE_URL_KEYS} == {
        "${PARTNEROPS_DATABASE_URL:?set PARTNEROPS_DATABASE_URL in .env (see .env.example)}"}
    assert "PARTNEROPS_DATABASE_URL" not in common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    # Telemetry off; every Airflow container gets all of it (services extend, never override).
    assert {k: common[k] for k in ("DO_NOT_TRACK", "SCARF_ANALYTICS", "AIRFLOW__COSMOS__ENABLE_TELEMETRY",
                                   "DBT_SEND_ANONYMOUS_USAGE_STATS")} == {
        "DO_NOT_TRACK": "1", "SCARF_ANALYTICS": "false", "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    for name, service in _airflow_services(compose).items():
        assert {k: service["environment"].get(k) for k in common} == common, name


def _airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    image = compose["x-airflow-common"]["image"]
    return {n: s for n, s in compose["services"].items() if s.get("image") == image}


def test_the_topology_is_airflow_3_with_celery(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(_airflow_services(compose)) == {"airflow-init", "airflow-apiserver", "airflow-scheduler",
                                               "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
                                               "flower"}
    assert {n for n, s in services.items() if "dev" in s.get("profiles", [])} == {"mailpit", "flower"}
    assert compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # Workers scale with --scale: no fixed name, no published port.
    assert "container_name" not in services["airflow-worker"] and "ports" not in services["airflow-worker"]
    assert "FROM apache/airflow:3.3.2-python3.11" in DOCKERFILE.read_text(encoding="utf-8").splitlines()
    assert "-c /opt/airflow/partnerops-src/constraints.txt" in DOCKERFILE.read_text(encoding="utf-8")


def test_every_long_running_service_has_a_healthcheck_and_waits_for_what_it_needs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for needed, how in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if needed in ONE_SHOT else "service_healthy"
            assert how == {"condition": wanted}, f"{name} -> {needed}: {how}"
    for name in _airflow_services(compose):
        depends = services[name].get("depends_on") or {}
        assert {"postgres", "redis"} <= set(depends), name
        if name not in ONE_SHOT:
            assert "airflow-init" in depends, name


def _service_commands(compose: dict[str, Any]) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """(airflow argument lists, partnerops argument lists, commands that are neither) of the Airflow services."""
    airflow, partnerops, other = [], [], []
    for name, service in _airflow_services(compose).items():
        command = service["command"]
        if service.get("entrypoint") == "/bin/bash":  # a script: its airflow and partnerops lines
            assert command[0] == "-c", name
            found = script_commands(command[1])
            assert found, f"{name}: no airflow or partnerops command in its script"
        else:  # the image's entrypoint runs `airflow <command>`
            found = [["airflow", *command.split()]]
        health = service["healthcheck"]["test"] if "healthcheck" in service else []
        if health and health[0] == "CMD-SHELL":
            found += script_commands(health[1])
        for words in found:
            (airflow if words[0] == "airflow" else partnerops if words[0] == "partnerops" else other).append(words[1:])
    return airflow, partnerops, other


def test_every_command_is_a_real_airflow_or_partnerops_command(compose: dict[str, Any], tmp_path: Path) -> None:
    airflow, partnerops, other = _service_commands(compose)
    assert other == []
    assert ["celery", "worker"] in airflow and ["db", "migrate"] in airflow
    assert ["db", "upgrade"] in partnerops and ["dbt-manifest"] in partnerops and ["admin-password"] in partnerops
    # The checkers refuse what is not a command (`airflow users` is the FAB auth manager's).
    probes = [["users", "create"], ["schedulerr"]]
    assert len(airflow_command_problems(airflow + probes, tmp_path)) == len(probes)
    assert len(partnerops_command_problems(partnerops + [["db", "downgrade"]])) == 1


def test_the_init_script_runs_every_step_in_order_and_stops_at_the_first_failure(compose: dict[str, Any]) -> None:
    script = compose["services"]["airflow-init"]["command"][1]
    assert script.splitlines()[0] == "set -euo pipefail"
    steps = [" ".join(c) for c in script_commands(script)]
    assert steps == ["airflow db migrate", "partnerops db upgrade", "partnerops dbt-manifest",
                     "partnerops admin-password"]
    # The placeholders of .env.example stop it before anything is written: it sees every secret.
    assert script.index("change-me") < script.index("airflow db migrate")
    init_env = " ".join(str(v) for v in compose["services"]["airflow-init"]["environment"].values())
    assert {m["name"] for m in VAR_REF.finditer(init_env)} >= set(_required_variables())


def _run_init_script(compose: dict[str, Any], tmp_path: Path, env: dict[str, str],
                     failing: str = "") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """airflow-init's script under bash, with `airflow` and `partnerops` stand-ins that log their arguments."""
    script = compose["services"]["airflow-init"]["command"][1].replace("$$", "$")
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir(parents=True)
    for name in ("airflow", "partnerops"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/bash\necho "{name} $*" >> {calls}\n[ "{name} $*" != "{failing}" ]\n')
        stub.chmod(0o755)
    proc = subprocess.run(["bash", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=60, check=False)
    return proc, calls.read_text().splitlines() if calls.exists() else []


def test_the_init_script_refuses_placeholders_and_stops_at_a_failed_step(compose: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    proc, calls = _run_init_script(compose, tmp_path / "a", {"REDIS_PASSWORD": "change-me-redis-password",
                                                             "AIRFLOW_JWT_SECRET": "f00d"})
    assert proc.returncode == 1 and calls == []
    assert "REDIS_PASSWORD" in proc.stderr and "AIRFLOW_JWT_SECRET" not in proc.stderr
    assert "change-me-redis-password" not in proc.stderr  # names, never values

    proc, calls = _run_init_script(compose, tmp_path / "b", {"REDIS_PASSWORD": "f00d"},
                                   failing="partnerops db upgrade")
    assert proc.returncode != 0
    assert calls == ["airflow db migrate", "partnerops db upgrade"]

    proc, calls = _run_init_script(compose, tmp_path / "c", {"REDIS_PASSWORD": "f00d"})
    assert proc.returncode == 0, proc.stderr
    assert calls == ["airflow db migrate", "partnerops db upgrade", "partnerops dbt-manifest",
                     "partnerops admin-password"]

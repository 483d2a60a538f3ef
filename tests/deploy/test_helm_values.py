"""deploy/helm/values.yaml (Airflow's official chart, KubernetesExecutor) against the settings definition."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_files import (
    COMPOSE_FILE,
    DATABASE_URL_KEYS,
    HELM_VALUES,
    SECRET_NAME,
    expected_airflow_env,
    load_yaml,
    script_commands,
    secret_literals,
)

#: What the Kubernetes deployment adds to `airflow_environ()` in `env` (the executor, the
#: databases and the keys have settings of the chart's own).
HELM_DEPLOYMENT_KEYS = frozenset({"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"})


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return load_yaml(HELM_VALUES)


def test_the_chart_gets_the_settings_definition(values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = expected_airflow_env(monkeypatch)
    env = {item["name"]: item["value"] for item in values["env"]}
    assert len(env) == len(values["env"]), "a variable set twice"
    # The chart sets AIRFLOW_HOME itself, from `airflowHome`.
    assert values["airflowHome"] == expected.pop("AIRFLOW_HOME")
    assert {k: env.get(k) for k in expected} == expected
    assert set(env) - set(expected) == HELM_DEPLOYMENT_KEYS
    assert values["executor"] == "KubernetesExecutor"
    assert values["airflowVersion"] == "3.3.2"
    # The shared state is mounted where the settings look for it.
    mount = next(m for m in values["volumeMounts"] if m["name"] == "partnerops-var")
    assert mount["mountPath"] == env["PARTNEROPS_DATA_DIR"]


def test_no_secret_in_the_values(values: dict[str, Any]) -> None:
    assert secret_literals(HELM_VALUES.read_text(encoding="utf-8"), "values.yaml") == []
    assert [item["name"] for item in values["env"] if SECRET_NAME.search(item["name"])
            and not item["name"].endswith("_FILE")] == []
    # Each secret comes from a Kubernetes Secret; the warehouse's one URL under both names.
    from_secrets = {item["envName"]: (item["secretName"], item["secretKey"]) for item in values["secret"]}
    assert len({from_secrets[k] for k in DATABASE_URL_KEYS}) == 1
    assert "AIRFLOW_ADMIN_PASSWORD" in from_secrets
    assert values["data"]["metadataSecretName"] and values["fernetKeySecretName"]
    assert values["apiSecretKeySecretName"] and values["jwtSecretName"]
    assert values["postgresql"]["enabled"] is False


def test_the_migration_job_runs_the_same_steps_as_airflow_init(values: dict[str, Any]) -> None:
    compose_init = load_yaml(COMPOSE_FILE)["services"]["airflow-init"]["command"][1]
    args = values["migrateDatabaseJob"]["args"]
    assert args[:2] == ["bash", "-c"]
    assert script_commands(args[2]) == script_commands(compose_init)
    assert args[2].splitlines()[0] == "set -euo pipefail"

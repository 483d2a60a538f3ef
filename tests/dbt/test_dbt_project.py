"""The dbt project's conventions, checked on its manifest (`dbt parse`, no database needed)."""

from __future__ import annotations

import json

import pytest

PUBLIC_MARTS = {"commitment_statuses", "agreement_fulfilment", "brand_scorecards", "group_scorecards",
                "gmv_pacing", "prospect_kpis", "recurring_on_time_rates"}
RULE_MODELS = {"int_deliverables_judged", "int_commitment_instances_scheduled", "int_agreement_versions_resolved",
               "int_quotas_paced", "int_threshold_windows_measured", "int_thresholds_budgeted",
               "int_commitment_statuses_resolved", "recurring_on_time_rates"}


@pytest.fixture(scope="module")
def manifest(dbt_manifest) -> dict:
    # the session's `dbt parse`, which reads the profile but never connects
    return json.loads(dbt_manifest.read_text())


def _nodes(manifest: dict, resource_type: str) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values()
            if n["resource_type"] == resource_type and n["package_name"] == "partnerops"}


def test_every_evidence_feed_has_source_freshness(manifest):
    feeds = [s for s in manifest["sources"].values() if s["source_name"] == "evidence"]
    assert {s["name"] for s in feeds} >= {"orders", "shipments", "campaign_executions", "channel_listings",
                                           "data_deliveries", "attestations", "evidence_loads"}
    for source in feeds:
        assert source["loaded_at_field"] == "arrived_at", source["name"]
        assert (source["freshness"] or {}).get("warn_after", {}).get("count"), source["name"]


def test_every_model_states_its_grain(manifest):
    for name, node in _nodes(manifest, "model").items():
        text = node["description"].lower()
        assert "grain" in text or "one row per" in text, f"{name}: the description does not state the grain"


def test_public_marts_have_enforced_contracts(manifest):
    models = _nodes(manifest, "model")
    for name in PUBLIC_MARTS:
        assert models[name]["config"]["contract"]["enforced"], name
    assert models["commitment_statuses"]["config"]["materialized"] == "incremental"
    assert models["prospect_kpis"]["config"]["materialized"] == "incremental"


def test_every_rule_has_a_unit_test(manifest):
    tested = {u["model"] for u in manifest["unit_tests"].values()}
    assert RULE_MODELS <= tested, f"rules without unit tests: {sorted(RULE_MODELS - tested)}"


def test_exposures_name_the_alerting_and_ui_consumers(manifest):
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"sla_alerts", "agreement_dags"} <= set(exposures)

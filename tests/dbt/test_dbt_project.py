"""The dbt project's conventions, checked on its manifest (`dbt parse`, no database needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tracking_data import dbt

PUBLIC_MARTS = {"commitment_statuses", "agreement_fulfilment", "brand_scorecards", "group_scorecards",
                "gmv_pacing", "prospect_kpis", "recurring_on_time_rates"}
RULE_MODELS = {"int_deliverables_judged", "int_commitment_instances_scheduled", "int_agreement_versions_resolved",
               "int_quotas_paced", "int_threshold_windows_measured", "int_thresholds_budgeted",
               "int_commitment_statuses_resolved", "recurring_on_time_rates"}


@pytest.fixture(scope="module")
def manifest(dbt_target) -> dict:
    # dbt parse reads the profile but never connects
    dbt("postgresql://nobody@127.0.0.1:1/nothing", dbt_target, "parse")
    return json.loads((dbt_target / "manifest.json").read_text())


def _nodes(manifest: dict, resource_type: str) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values()
            if n["resource_type"] == resource_type and n["package_name"] == "partnerops"}


def test_feed_staleness_is_defined_once_by_the_seed(manifest):
    """Every feed has its `stale_after_days` in the seed, and no second definition elsewhere."""
    import csv

    feeds = {s["name"] for s in manifest["sources"].values() if s["source_name"] == "evidence"} - {"evidence_loads"}
    seed = manifest["nodes"]["seed.partnerops.evidence_feeds"]
    with open(Path(seed["root_path"]) / seed["original_file_path"], newline="") as fh:
        stale_after = {row["feed"]: int(row["stale_after_days"]) for row in csv.DictReader(fh)}
    assert feeds == {"orders", "shipments", "campaign_executions", "channel_listings", "data_deliveries",
                     "attestations"}
    assert set(stale_after) == feeds and all(days > 0 for days in stale_after.values()), stale_after
    for source in manifest["sources"].values():
        if source["source_name"] == "evidence":
            assert not (source.get("freshness") or {}).get("warn_after", {}).get("count"), source["name"]
            assert not (source.get("freshness") or {}).get("error_after", {}).get("count"), source["name"]
    project = yaml.safe_load((Path(seed["root_path"]) / "dbt_project.yml").read_text())
    assert not any("stale" in name for name in project["vars"]), project["vars"]


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


def _relations_read(*modules: str) -> set[str]:
    """The marts a module's SQL names: `marts.<name>` or `{schema}.<name>`."""
    import re

    from partnerops.settings import get_settings

    root = get_settings().project_root / "include" / "partnerops"
    found: set[str] = set()
    for module in modules:
        found |= set(re.findall(r"(?:\bmarts|\{schema\})\.(\w+)", (root / module).read_text()))
    return found


def test_exposures_declare_exactly_what_the_code_reads(manifest):
    from partnerops.alerts.status import MARTS_READ

    exposures = {e["name"]: {node.split(".")[-1] for node in e["depends_on"]["nodes"]}
                 for e in manifest["exposures"].values()}
    assert exposures["sla_alerts"] == set(MARTS_READ) == _relations_read(
        "alerts/status.py", "alerts/run.py", "alerts/demo.py", "alerts/routing.py", "alerts/rules.py")
    assert exposures["agreement_dags"] == _relations_read("agreement_dags.py") == {"commitment_statuses"}
    assert exposures["partnerops_status_cli"] == _relations_read("status.py") == {"commitment_statuses"}


def test_the_alerts_read_no_raw_table_but_their_own_ledger():
    import re

    from partnerops.settings import get_settings

    alerts = get_settings().project_root / "include" / "partnerops" / "alerts"
    raw = {name for path in alerts.glob("*.py") for name in re.findall(r"\braw\.(\w+)", path.read_text())}
    assert raw <= {"alerts", "alert_digests", "alert_deliveries"}, raw

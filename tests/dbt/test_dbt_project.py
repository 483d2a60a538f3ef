"""The dbt project's conventions, checked on its manifest (`dbt parse`, no database needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mart_docs import mart_nodes, primary_key_tests, undescribed

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
    assert models["prospect_kpi_counts"]["config"]["materialized"] == "incremental"


def test_every_rule_has_a_unit_test(manifest):
    tested = {u["model"] for u in manifest["unit_tests"].values()}
    assert RULE_MODELS <= tested, f"rules without unit tests: {sorted(RULE_MODELS - tested)}"


def _relations_read(*modules: str) -> set[str]:
    """The marts and snapshots a module's SQL names: `marts.<name>`, `snapshots.<name>` or `{schema}.<name>`."""
    import re

    from partnerops.settings import get_settings

    root = get_settings().project_root / "include" / "partnerops"
    found: set[str] = set()
    for module in modules:
        found |= set(re.findall(r"(?:\bmarts|\bsnapshots|\{schema\})\.(\w+)", (root / module).read_text()))
    return found


def test_exposures_declare_exactly_what_the_code_reads(manifest):
    from partnerops.alerts.status import MARTS_READ

    exposures = {e["name"]: {node.split(".")[-1] for node in e["depends_on"]["nodes"]}
                 for e in manifest["exposures"].values()}
    assert exposures["sla_alerts"] == set(MARTS_READ) == _relations_read(
        "alerts/status.py", "alerts/run.py", "alerts/demo.py", "alerts/routing.py", "alerts/rules.py")
    assert exposures["agreement_dags"] == _relations_read("agreement_dags.py") == {"commitment_statuses", "mart_builds"}
    assert exposures["partnerops_status_cli"] == _relations_read("status.py") == {"commitment_statuses"}
    assert exposures["partnerships_view"] == _relations_read("ui/queries.py", "ui/app.py") == {
        "agreement_fulfilment", "agreement_versions", "commitment_decisions", "commitment_statuses", "gmv_pacing",
        "group_scorecards", "mart_builds", "recurring_on_time_rates", "threshold_windows",
        "commitment_status_snapshots"}


def test_exposures_name_their_pages_with_urls(manifest):
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    view = exposures["partnerships_view"]
    assert view["url"] == "/plugin/partnerships"
    for page in ("/partnerops/", "/partnerops/attention", "/partnerops/agreements/<agreement_id>",
                 "/partnerops/groups", "/partnerops/portfolio.csv"):
        assert page in view["description"], page
    alerts = exposures["sla_alerts"]
    assert alerts["url"] == "/dags/sla_alerts"
    from partnerops.alerts.rules import RULES, WINDOW_WARNING_SHARES, window_rule

    for rule in (*RULES, *(window_rule(share) for share in WINDOW_WARNING_SHARES)):
        assert f"`{rule}`" in alerts["description"], f"sla_alerts does not describe the rule {rule}"


#: Exposure parents the evaluator's governance rules flag, kept on purpose (README, Design).
EXPOSED_VIEWS = {"commitment_decisions"}  # a decision counts at once, without a rebuild
EXPOSED_SNAPSHOTS = {"commitment_status_snapshots"}  # the status history exists only as the snapshot


def test_exposures_read_public_contracted_tables(manifest):
    """dbt-project-evaluator's exposure rules: parents are public, contracted, tables (documented exceptions)."""
    for exposure in manifest["exposures"].values():
        for parent_id in exposure["depends_on"]["nodes"]:
            parent = manifest["nodes"][parent_id]
            where = f"{exposure['name']} -> {parent['name']}"
            if parent["resource_type"] == "snapshot":
                assert parent["name"] in EXPOSED_SNAPSHOTS, where
                continue
            assert parent["access"] == "public", f"{where}: access is {parent['access']}"
            assert parent["config"]["contract"]["enforced"], f"{where}: no enforced contract"
            assert parent["config"]["materialized"] in ("table", "incremental") or parent["name"] in EXPOSED_VIEWS, (
                f"{where}: {parent['config']['materialized']}")


def test_every_mart_and_its_columns_are_described(manifest):
    """Every mart and snapshot has a description, and so has every column its YAML lists.

    The YAML lists every column of a contracted mart (dbt checks that on build);
    `test_dbt_build.py` also compares the built tables' columns with the docs.
    """
    assert {"commitment_statuses", "customer_months", "mart_builds", "commitment_status_snapshots"} <= set(
        mart_nodes(manifest))
    assert undescribed(manifest) == []


def test_the_docs_check_finds_an_undescribed_mart_or_column(manifest):
    import copy

    broken = copy.deepcopy(manifest)
    nodes = {n["name"]: n for n in broken["nodes"].values() if n["resource_type"] in ("model", "snapshot")}
    nodes["gmv_pacing"]["columns"]["pace_index"]["description"] = ""
    nodes["mart_builds"]["description"] = " "
    assert undescribed(broken, {"customer_months": ["customer_id", "loyalty_tier"]}) == [
        "customer_months.loyalty_tier", "gmv_pacing.pace_index", "mart_builds"]


def test_every_mart_has_a_primary_key_test(manifest):
    tests = primary_key_tests(manifest)
    assert [name for name, found in tests.items() if not found] == []
    assert tests["commitment_statuses"] == ["primary key (as_of_date, commitment_instance_id)",
                                            "unique_combination_of_columns(as_of_date, commitment_instance_id)"]
    assert tests["customer_months"] == ["primary key (brand_id, customer_id, order_month)"]
    assert tests["commitment_status_snapshots"] == ["unique_combination_of_columns(dbt_scd_id, dbt_valid_to)"]


def test_the_primary_key_check_finds_a_mart_without_one(manifest):
    import copy

    broken = copy.deepcopy(manifest)
    for node in broken["nodes"].values():
        if node["resource_type"] == "test" and node.get("attached_node") == "model.partnerops.gmv_pacing":
            node["attached_node"] = "model.partnerops.somewhere_else"
    assert primary_key_tests(broken)["gmv_pacing"] == []


def test_the_alerts_read_no_raw_table_but_their_own_ledger():
    import re

    from partnerops.settings import get_settings

    alerts = get_settings().project_root / "include" / "partnerops" / "alerts"
    raw = {name for path in alerts.glob("*.py") for name in re.findall(r"\braw\.(\w+)", path.read_text())}
    assert raw <= {"alerts", "alert_digests", "alert_deliveries"}, raw


def test_the_overview_explains_every_status_and_metric(manifest):
    """The docs' front page is the glossary: every status of the seed, every score and metric, with examples."""
    import csv

    overview = manifest["docs"]["doc.partnerops.__overview__"]["block_contents"]
    seed = manifest["nodes"]["seed.partnerops.status_scores"]
    with open(Path(seed["root_path"]) / seed["original_file_path"], newline="") as fh:
        statuses = [row["status"] for row in csv.DictReader(fh)]
    assert len(statuses) == 11
    for status in statuses:
        assert f"| `{status}` |" in overview, f"the overview's status table lacks {status}"
    for term in ("Weighted score", "On-time rate", "Quota pace", "error budget", "Burn rate", "GMV pace index",
                 "provisional", "final", "How to read a scorecard", "A due date is the whole local day",
                 "delivered on or before that date", "effective date"):
        assert term in overview, term
    assert overview.count("*Example") >= 8

"""`dbt build` on the sample agreements with evidence, and as-of evaluation end to end.

One database for the module: the sample corpus (2 brands) taken in, an amendment of
TM-2026-0001 effective from a chosen day, fresh feeds, and a launch campaign that happened on
time but arrived three days later. Three as-of dates:
- A1, the day after the launch slot was due: the campaign has not arrived, the amendment
  is not in effect yet → at_risk, version 1;
- A2, after the campaign arrived, from the amendment's effective date → delivered,
  version 2 applies, version 1 superseded;
- A3, after the other brand's launch slot deadline passed without a campaign → breached,
  and that brand's launch, which depends on it, excused.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import yaml
from mart_docs import mart_nodes, undescribed
from tracking_data import add_campaign, add_daily_loads, dbt, local, query

from partnerops.agreements.sample import sample_documents, write_sample_corpus
from partnerops.intake import run_intake
from partnerops.status import fetch_statuses, render

pytestmark = pytest.mark.integration

AMENDED_DUE = date(2026, 9, 30)


@pytest.fixture(scope="module")
def scenario(dbt_db_url, dbt_target, tmp_path_factory):
    url = dbt_db_url
    work = tmp_path_factory.mktemp("scenario")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARTNEROPS_DATA_DIR", str(work / "var"))
        corpus = write_sample_corpus(work / "agreements", brands=2, groups=2, seed=2015, year=2026)
        run_intake([corpus[0].parent], database_url=url, triggered_by="test")
        slot_due = {a: d for a, d in query(url, """select agreement_id, due_date from raw.commitments
                                                   where commitment_id = 'launch-slot'""")}
        s1, s2 = slot_due["TM-2026-0001"], slot_due["TM-2026-0002"]
        a1, a2, a3 = s1 + timedelta(days=1), s1 + timedelta(days=5), max(s1, s2) + timedelta(days=14)

        # amendment v2 of TM-2026-0001: the clearance listing is due later; in effect from A2 on
        doc = sample_documents(brands=2, groups=2, seed=2015, year=2026)[0]
        doc["version"] = 2
        doc["amendment_note"] = "Clearance listing moved to the end of September"
        doc["effective_from"] = a2.isoformat()
        for c in doc["commitments"]:
            if c["id"] == "clearance-outlet":
                c["due"] = AMENDED_DUE.isoformat()
        amended = work / "amendments" / "TM-2026-0001.v2.yaml"
        amended.parent.mkdir()
        amended.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        run_intake([amended], database_url=url, triggered_by="test")
    # taken in on A2, like an amendment signed and loaded that day
    query(url, """update raw.agreement_versions set loaded_at = %s
                   where agreement_id = 'TM-2026-0001' and version = 2""", (local(a2, 9),))

    add_daily_loads(url, date(2026, 1, 1), a3)
    add_campaign(url, "CMP-1", "B0001", "new_product_launch", local(s1, 10), local(s1 + timedelta(days=3), 9))

    dbt(url, dbt_target, "build", as_of=a1)
    dbt(url, dbt_target, "run", as_of=a2)
    dbt(url, dbt_target, "build", "--exclude", "test_type:unit", as_of=a3)
    return {"url": url, "a1": a1, "a2": a2, "a3": a3, "s1": s1, "target": dbt_target}


def _status(url: str, as_of: date, agreement: str, commitment: str) -> list[tuple]:
    return query(url, """select agreement_version, status, due_date, status_reason
                           from marts.commitment_statuses
                          where as_of_date = %s and agreement_id = %s and commitment_id = %s
                          order by agreement_version""", (as_of, agreement, commitment))


def test_build_passes_and_fills_every_mart(scenario):
    url = scenario["url"]
    for mart in ("commitment_statuses", "agreement_fulfilment", "brand_scorecards", "group_scorecards",
                 "gmv_pacing", "threshold_windows", "commitments", "agreement_contacts"):
        assert query(url, f"select count(*) from marts.{mart}")[0][0] > 0, mart
    sides = {s for (s,) in query(url, "select distinct obligor from marts.agreement_fulfilment")}
    assert sides == {"platform", "brand"}
    assert query(url, "select count(*) from snapshots.commitment_status_snapshots")[0][0] > 0
    # the decisions mart is a view: a decision recorded after the build shows at once
    query(url, """insert into raw.commitment_decisions (agreement_id, commitment_id, instance_key, decision,
                      comment, decided_by, decided_at)
                  values ('TM-2026-0001', 'launch-slot', null, 'dispute', 'checking', 'am@example.com', now())""")
    assert query(url, """select agreement_id, instance_key, decision from marts.commitment_decisions""") == [
        ("TM-2026-0001", None, "dispute")]


def test_every_built_mart_column_is_described(scenario):
    """Every column of every mart table and view, and of the snapshot, as built, has a description."""
    import json

    manifest = json.loads((scenario["target"] / "manifest.json").read_text())
    marts = mart_nodes(manifest)
    built: dict[str, list[str]] = {}
    for name, column in query(scenario["url"], """select table_name, column_name
                                                             from information_schema.columns
                                                            where table_schema in ('marts', 'snapshots')"""):
        built.setdefault(name, []).append(column)
    assert set(built) == set(marts), "a relation in marts/snapshots that is no mart, or a mart not built"
    assert len(built["commitment_status_snapshots"]) > len(built["commitment_statuses"])  # + dbt_valid_from, …
    assert undescribed(manifest, built) == []


def test_evidence_that_arrived_later_is_ignored_on_the_earlier_date(scenario):
    url, a1, a2 = scenario["url"], scenario["a1"], scenario["a2"]
    assert _status(url, a1, "TM-2026-0001", "launch-slot")[0][1] == "at_risk"
    v2_row = [r for r in _status(url, a2, "TM-2026-0001", "launch-slot") if r[0] == 2]
    assert v2_row and v2_row[0][1] == "delivered"  # on time: the campaign started on the due date


def test_an_amendment_applies_from_its_effective_date(scenario):
    url, a1, a2 = scenario["url"], scenario["a1"], scenario["a2"]
    before = _status(url, a1, "TM-2026-0001", "clearance-outlet")
    assert [(v, s) for v, s, _, _ in before] == [(1, "pending")] and before[0][2] != AMENDED_DUE
    after = _status(url, a2, "TM-2026-0001", "clearance-outlet")
    assert [(v, s, d) for v, s, d, _ in after] == [(1, "superseded", before[0][2]), (2, "pending", AMENDED_DUE)]


def test_a_breach_of_the_other_side_excuses_the_dependent_commitment(scenario):
    url, a3 = scenario["url"], scenario["a3"]
    assert _status(url, a3, "TM-2026-0002", "launch-slot")[0][1] == "breached"
    _, status, _, reason = _status(url, a3, "TM-2026-0002", "new-collection-launch")[0]
    assert status == "excused" and "launch-slot (platform)" in reason


def test_status_report_reads_the_marts(scenario):
    report = fetch_statuses(scenario["url"], as_of=scenario["a1"], agreement_id="TM-2026-0001")
    assert report.as_of == scenario["a1"] and {r.agreement_id for r in report.rows} == {"TM-2026-0001"}
    text = render(report, "table")
    assert "launch-slot" in text and "at_risk" in text and "side platform:" in text

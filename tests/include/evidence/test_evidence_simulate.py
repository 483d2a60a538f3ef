"""The simulator: deterministic, realistic, and its fault rates show in the loaded data."""

from __future__ import annotations

import filecmp
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from db_query import query

from partnerops.agreements.sample import write_sample_corpus
from partnerops.evidence.load import load_files
from partnerops.evidence.simulate import (
    Faults,
    agreements_from_database,
    agreements_from_sample,
    season_factor,
    simulate,
)
from partnerops.intake import run_intake

NO_FAULTS = Faults(**{name: 0.0 for name in Faults.names()})


@pytest.fixture(scope="module")
def sample() -> list:
    return agreements_from_sample()


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_seed_gives_byte_identical_files(sample, tmp_path):
    kwargs = dict(start=date(2026, 3, 30), end=date(2026, 4, 1), scale=0.002)
    simulate(sample, out=tmp_path / "a", seed=7, **kwargs)
    simulate(sample, out=tmp_path / "b", seed=7, **kwargs)
    simulate(sample, out=tmp_path / "c", seed=8, **kwargs)
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert a and a == b
    assert a != c


def test_a_range_simulated_in_pieces_gives_the_same_files(sample, tmp_path):
    simulate(sample, out=tmp_path / "whole", start=date(2026, 6, 16), end=date(2026, 6, 19), scale=0.002)
    simulate(sample, out=tmp_path / "parts", start=date(2026, 6, 16), end=date(2026, 6, 16), scale=0.002)
    simulate(sample, out=tmp_path / "parts", start=date(2026, 6, 17), end=date(2026, 6, 19), scale=0.002)
    cmp = filecmp.dircmp(tmp_path / "whole", tmp_path / "parts")
    assert tree(tmp_path / "whole") == tree(tmp_path / "parts"), cmp.report_full_closure()


def test_seasonality_peaks_and_dips():
    ordinary = season_factor(date(2026, 5, 13))
    assert season_factor(date(2026, 11, 11)) > 5 * ordinary
    assert season_factor(date(2026, 6, 18)) > 2.5 * ordinary
    assert season_factor(date(2026, 2, 17)) < 0.6 * ordinary  # Spring Festival 2026
    assert season_factor(date(2027, 2, 6)) < 0.6 * ordinary  # Spring Festival 2027


def test_order_volume_follows_the_season_and_the_brand_sizes(sample, tmp_path):
    report = simulate(sample, out=tmp_path, start=date(2026, 11, 11), end=date(2026, 11, 11), scale=0.01,
                      faults=NO_FAULTS)
    peak = report.rows["orders"]
    report = simulate(sample, out=tmp_path, start=date(2026, 5, 13), end=date(2026, 5, 13), scale=0.01,
                      faults=NO_FAULTS)
    ordinary = report.rows["orders"]
    assert 2700 <= ordinary <= 3300  # 1 % of the reference 300,000
    assert peak > 6 * ordinary
    brands: dict[str, int] = {}
    with (tmp_path / "orders" / "orders_2026-05-14.from-2026-05-13.csv").open() as f:
        next(f)
        for line in f:
            brand = line.split(",")[1]
            brands[brand] = brands.get(brand, 0) + 1
    counts = sorted(brands.values(), reverse=True)
    assert sum(counts[:16]) > 0.4 * sum(counts)  # the largest tenth of the brands take a large share


def test_fault_rates_are_visible_in_the_loaded_data(sample, db_url, tmp_path):
    faults = Faults(late_shipment=0.2, duplicate_row=0.04, late_row=0.05, malformed_row=0.03)
    simulate(sample, out=tmp_path, start=date(2026, 5, 11), end=date(2026, 5, 13), scale=0.01, faults=faults)
    report = load_files([tmp_path], database_url=db_url)
    orders = report.totals("orders")
    assert orders["rows_in_file"] > 8000
    assert orders["rows_quarantined"] / orders["rows_in_file"] == pytest.approx(0.03 * 0.96, abs=0.008)
    # a duplicated row is delivered twice: duplicates / distinct good rows ~ the rate
    assert orders["rows_duplicate"] / orders["rows_loaded"] == pytest.approx(0.04, abs=0.01)
    (late_share,) = query(db_url, """select avg(((arrived_at at time zone 'Asia/Shanghai')::date
                                                  > business_date + 1)::int) from raw.orders""")[0]
    assert float(late_share) == pytest.approx(0.05, abs=0.015)
    (shipped_late,) = query(db_url, """select avg((shipped_at - paid_at > interval '48 hours')::int)
                                         from raw.shipments where business_date between '2026-05-11' and '2026-05-13'
                                          and arrived_at <= '2026-05-30'""")[0]
    assert float(shipped_late) == pytest.approx(0.2, abs=0.03)


def test_without_faults_nothing_is_quarantined_late_or_duplicate(sample, db_url, tmp_path):
    simulate(sample, out=tmp_path, start=date(2026, 5, 11), end=date(2026, 5, 11), scale=0.005, faults=NO_FAULTS)
    report = load_files([tmp_path], database_url=db_url)
    totals = report.totals()
    assert totals["rows_loaded"] > 1000
    assert (totals["rows_duplicate"], totals["rows_quarantined"]) == (0, 0)
    late = query(db_url, "select count(*) from raw.shipments where shipped_at - paid_at > interval '48 hours'")
    assert late == [(0,)]
    assert query(db_url, """select count(*) from raw.orders
                             where (arrived_at at time zone 'Asia/Shanghai')::date <> business_date + 1""")[0][0] == 0


def test_evidence_lines_up_with_the_commitments(sample, db_url, tmp_path):
    """Without faults, every campaign a deliverable calls for starts by its due date, and every
    brand's monthly data report for February arrives by its due date (5 working days)."""
    start, end = date(2026, 1, 20), date(2026, 3, 20)
    simulate(sample, out=tmp_path / "ok", start=start, end=end, scale=0, faults=NO_FAULTS)
    load_files([tmp_path / "ok"], database_url=db_url)
    reports = query(db_url, """select brand_id, max(delivered_at at time zone 'Asia/Shanghai')::date
                                 from raw.data_deliveries
                                where deliverable_type = 'monthly_data_report' and period_start_date = '2026-02-01'
                                group by 1""")
    assert len(reports) == len(sample)
    assert all(day <= date(2026, 3, 9) for _, day in reports)  # 5 working days after 28 Feb 2026

    due = {(a.brand_id, c.evidence.match["campaign_type"]): c.due for a in sample for c in a.commitments
           if c.kind == "deliverable" and c.evidence.type == "campaign_execution"
           and start + timedelta(days=10) <= c.due <= end}
    started = dict(((brand, kind), day) for brand, kind, day in query(db_url, """
        select brand_id, campaign_type, min(actual_start_at at time zone 'Asia/Shanghai')::date
          from raw.campaign_executions group by 1, 2"""))
    assert len(due) > 20
    for key, due_date in due.items():
        assert key in started and started[key] <= due_date, key

    missing = Faults(**{**{n: 0.0 for n in Faults.names()}, "missing_data_report": 1.0})
    simulate(sample, out=tmp_path / "missing", start=date(2026, 4, 1), end=date(2026, 4, 15), scale=0,
             faults=missing)
    written = list((tmp_path / "missing" / "data_deliveries").glob("*.jsonl"))
    assert written and not any(p.read_text() for p in written)  # the daily files come, but empty


def test_simulates_the_agreements_in_the_database(project_env, db_url, tmp_path):
    corpus = tmp_path / "agreements"
    files = write_sample_corpus(corpus, brands=3, groups=2)
    run_intake(files, database_url=db_url, triggered_by="test")
    agreements = agreements_from_database(db_url)
    assert [a.brand_id for a in agreements] == ["B0001", "B0002", "B0003"]
    simulate(agreements, out=tmp_path / "out", start=date(2026, 5, 11), end=date(2026, 5, 11), scale=0.01)
    load_files([tmp_path / "out"], database_url=db_url)
    assert {b for (b,) in query(db_url, "select distinct brand_id from raw.orders")} == {"B0001", "B0002", "B0003"}


def test_every_malformed_row_is_caught_by_the_loader(sample, db_url, tmp_path):
    all_bad = Faults(**{**{n: 0.0 for n in Faults.names()}, "malformed_row": 1.0})
    report = simulate(sample, out=tmp_path, start=date(2026, 3, 2), end=date(2026, 3, 3), scale=0.002,
                      faults=all_bad)
    loaded = load_files([tmp_path], database_url=db_url)
    for feed, written in report.rows.items():
        totals = loaded.totals(feed)
        assert (totals["rows_in_file"], totals["rows_quarantined"], totals["rows_loaded"]) == (written, written, 0)


def test_a_brand_with_two_agreements_is_one_brand(sample, db_url, tmp_path):
    first = sample[0]
    second = replace(first, agreement_id=first.agreement_id + "-B", commitments=())
    simulate([first, second, *sample[1:5]], out=tmp_path, start=date(2026, 5, 11), end=date(2026, 5, 11),
             scale=0.01, faults=NO_FAULTS)
    report = load_files([tmp_path], database_url=db_url)
    assert report.totals("orders")["rows_duplicate"] == 0
    assert report.totals("orders")["rows_loaded"] > 100

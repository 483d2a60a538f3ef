"""Retention archives old raw months, and replaying an as-of date inside retention still equals the live result.

Orders and shipments in January and May 2026; the tracking run as of 15 June (live). Retention
with a margin of 0 days then archives January (its quarter ended on 31 March, frozen 45 days
later, on 15 May), keeps May, and a `--full-refresh` as of 15 June rebuilds
the statuses, threshold windows and GMV pacing from the daily roll-ups: the same rows as live.
"""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import date, timedelta

import pytest
from tracking_data import add_daily_loads, add_order, dbt, local, query

from partnerops.agreements.sample import write_sample_corpus
from partnerops.evidence.load import prepare_partitions
from partnerops.evidence.retention import archive_evidence, kept_until
from partnerops.intake import run_intake
from partnerops.settings import get_settings

pytestmark = pytest.mark.integration

MODELS_ONLY = ("--exclude", "test_type:unit", "test_type:data", "resource_type:snapshot")
LIVE = date(2026, 6, 15)
REPLAYED = {
    "commitment_statuses": "select * from marts.commitment_statuses where as_of_date = %s order by 1, 2, 3",
    "threshold_windows": "select * from marts.threshold_windows where as_of_date = %s order by 1, 2, 3, 4, 5",
    "gmv_pacing": "select * from marts.gmv_pacing where as_of_date = %s order by 1, 2, 3, 4, 5",
}


def _add_shipment(url: str, order_id: str, day: date, arrived: date, hours_to_ship: int) -> None:
    query(url, """insert into raw.shipments (order_id, brand_id, paid_at, shipped_at, delivered_at, carrier,
                                             warehouse_id, business_date, arrived_at, load_id)
                  values (%s, 'B0001', %s, %s, null, 'SF', 'W1', %s, %s, 0)""",
          (order_id, local(day, 9), local(day, 9) + timedelta(hours=hours_to_ship), day, local(arrived, 8)))


def test_kept_until_the_quarter_end_plus_the_margin_never_before_the_windows_freeze():
    assert kept_until(date(2026, 1, 1), 90) == date(2026, 3, 31) + timedelta(days=90)
    assert kept_until(date(2026, 5, 1), 90) == date(2026, 9, 28)
    # a margin shorter than the late-arrival allowance (45 days) keeps the month until its windows freeze
    assert kept_until(date(2026, 3, 1), 0) == date(2026, 5, 15)
    assert kept_until(date(2026, 3, 1), 44) == date(2026, 5, 15)
    assert kept_until(date(2026, 3, 1), 46) == date(2026, 5, 16)
    assert kept_until(date(2026, 12, 1), 0) == date(2027, 2, 14)
    assert kept_until(date(2026, 3, 1), 0, late_arrival_days=10) == date(2026, 4, 10)


def test_replay_inside_retention_equals_live(dbt_db_url, dbt_target, tmp_path, monkeypatch):
    url = dbt_db_url
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path / "var"))
    corpus = write_sample_corpus(tmp_path / "agreements", brands=1, groups=1, seed=2015, year=2026)
    run_intake([corpus[0].parent], database_url=url, triggered_by="test")
    assert "orders_p2026_01" in prepare_partitions(url)
    add_daily_loads(url, date(2026, 1, 1), LIVE)
    for i, (day, customer) in enumerate([(date(2026, 1, 5), "c1"), (date(2026, 1, 20), "c2"),
                                         (date(2026, 5, 4), "c1")]):
        add_order(url, f"O{i}", "B0001", customer, day, local(day + timedelta(days=1), 8), amount="250.00")
        _add_shipment(url, f"O{i}", day, day + timedelta(days=2), hours_to_ship=20 + 30 * i)

    dbt(url, dbt_target, "build", *MODELS_ONLY, as_of=LIVE)
    live = {table: query(url, sql, (LIVE,)) for table, sql in REPLAYED.items()}
    assert any(row for row in live["gmv_pacing"]), "no GMV pacing to compare"

    settings = replace(get_settings(), retention_margin_days=0, data_dir=tmp_path / "var")
    archived = archive_evidence(url, today=LIVE, settings=settings)
    # January's partitions; empty months (created ahead) are left alone, May is inside retention
    assert sorted(a.partition for a in archived) == ["orders_p2026_01", "shipments_p2026_01"]
    january = next(a for a in archived if a.partition == "orders_p2026_01")
    assert january.rows == 2
    with gzip.open(january.path, "rt") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("order_id,") and sorted(line.split(",")[0] for line in lines[1:]) == ["O0", "O1"]
    assert query(url, "select order_id from raw.orders order by 1") == [("O2",)]
    # archived once: a second run finds nothing due, and the month's partition is not created again
    assert archive_evidence(url, today=LIVE, settings=settings) == []
    assert "orders_p2026_01" not in prepare_partitions(url)

    dbt(url, dbt_target, "build", *MODELS_ONLY, "--full-refresh", as_of=LIVE, history_start=str(LIVE))
    for table, sql in REPLAYED.items():
        assert query(url, sql, (LIVE,)) == live[table], f"{table} differs when replayed after the archive"

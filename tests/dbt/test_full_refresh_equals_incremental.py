"""A full refresh gives the same rows as the daily incremental runs that preceded it.

Incremental runs over 2026-03-01..2026-03-20 (one day, then two catch-up ranges via
as_of_from), with evidence and orders arriving in between, some of it late for earlier
months, and an amendment effective 2026-03-05 taken in late, on 2026-03-12, after the run
that covered 5-10 March: the ordinary run that follows recomputes the agreement from
5 March, while the status history snapshot keeps what was shown at the time. Then
`--full-refresh` over the same history. The incremental marts (commitment_statuses,
customer_months, prospect_kpis) and the tables built on them must be identical row for row.
The daily roll-ups of orders and shipments and customer_months are kept by a full refresh
(retention archives the raw rows they were made of): they are dropped first here, so the full
refresh rebuilds them from the raw rows, and must equal what the daily runs accumulated.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import yaml
from tracking_data import add_campaign, add_daily_loads, add_order, dbt, local, query

from partnerops.agreements.sample import sample_documents, write_sample_corpus
from partnerops.intake import run_intake

pytestmark = pytest.mark.integration

MODELS_ONLY = ("--exclude", "test_type:unit", "test_type:data", "resource_type:snapshot")
WITH_SNAPSHOT = ("--exclude", "test_type:unit", "test_type:data")
EFFECTIVE, TAKEN_IN = date(2026, 3, 5), date(2026, 3, 12)
AMENDED_DUE = date(2026, 9, 30)
COMPARED = ("commitment_statuses", "customer_months", "prospect_kpis", "agreement_fulfilment", "brand_scorecards")
ROLLED_UP = ("int_orders_rolled_up_daily", "int_shipments_rolled_up_daily")


def _dump(url: str, table: str) -> list[tuple]:
    return query(url, f"select * from marts.{table} order by 1, 2, 3, 4")


def _dump_rolled_up(url: str, table: str) -> list[tuple]:
    rows = query(url, f"select * from intermediate.{table} order by 1, 2, 3, 4, 5, 6")
    return [row[:-1] for row in rows]  # without loads_seen_through


def _versions(url: str, as_of: date) -> list[tuple]:
    """(version, superseded?) of the amended commitment's instances as of a date."""
    return query(url, """select agreement_version, status = 'superseded' from marts.commitment_statuses
                          where as_of_date = %s and commitment_id = 'clearance-outlet' order by 1""", (as_of,))


def _take_in_late_amendment(url: str, folder) -> None:
    doc = sample_documents(brands=1, groups=1, seed=2015, year=2026)[0]
    doc.update(version=2, amendment_note="Clearance listing moved to the end of September",
               effective_from=EFFECTIVE.isoformat())
    for c in doc["commitments"]:
        if c["id"] == "clearance-outlet":
            c["due"] = AMENDED_DUE.isoformat()
    path = folder / "TM-2026-0001.v2.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    outcome = run_intake([path], database_url=url, triggered_by="test")
    assert [f.outcome for f in outcome.files] == ["loaded"]
    query(url, "update raw.agreement_versions set loaded_at = %s where version = 2", (local(TAKEN_IN, 9),))


def test_full_refresh_equals_incremental(dbt_db_url, dbt_target, tmp_path, monkeypatch):
    url = dbt_db_url
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path / "var"))
    corpus = write_sample_corpus(tmp_path / "agreements", brands=1, groups=1, seed=2015, year=2026)
    run_intake([corpus[0].parent], database_url=url, triggered_by="test")
    add_daily_loads(url, date(2026, 1, 1), date(2026, 3, 20))
    first, mid, last = date(2026, 3, 1), date(2026, 3, 10), date(2026, 3, 20)
    # a campaign on time, known a week later; orders in January to March, one February order late
    add_campaign(url, "CMP-T", "B0001", "traffic", local(date(2026, 2, 2)), local(date(2026, 3, 8)))
    orders = [
        (date(2026, 1, 5), date(2026, 1, 6), "c1"), (date(2026, 1, 20), date(2026, 1, 21), "c2"),
        (date(2026, 2, 3), date(2026, 2, 4), "c1"), (date(2026, 2, 3), date(2026, 2, 4), "c1"),
        (date(2026, 2, 27), date(2026, 3, 15), "c3"), (date(2026, 3, 2), date(2026, 3, 3), "c2"),
        (date(2026, 3, 12), date(2026, 3, 13), "c4"), (date(2026, 3, 18), date(2026, 3, 19), "c1"),
    ]
    shipments = [(date(2026, 2, 3), date(2026, 2, 5)), (date(2026, 3, 2), date(2026, 3, 4)),
                 (date(2026, 2, 27), date(2026, 3, 16))]

    def arrive(until: date) -> None:
        """The orders and shipments delivered by `until` that are not in yet (a day's files)."""
        for i, (day, arrived, customer) in enumerate(orders):
            if arrived <= until and not query(url, "select 1 from raw.orders where order_id = %s", (f"O{i}",)):
                add_order(url, f"O{i}", "B0001", customer, day, local(arrived, 8))
        for i, (day, arrived) in enumerate(shipments):
            if arrived <= until and not query(url, "select 1 from raw.shipments where order_id = %s", (f"S{i}",)):
                query(url, """insert into raw.shipments (order_id, brand_id, paid_at, shipped_at, delivered_at, carrier,
                                                         warehouse_id, business_date, arrived_at, load_id)
                              values (%s, 'B0001', %s, %s, null, 'SF', 'W1', %s, %s, 0)""",
                      (f"S{i}", local(day, 10), local(day + timedelta(days=3 * (i % 2)), 11), day, local(arrived, 8)))

    arrive(mid)

    dbt(url, dbt_target, "build", *MODELS_ONLY, as_of=first)
    dbt(url, dbt_target, "build", *WITH_SNAPSHOT, as_of=mid, as_of_from=str(first + timedelta(days=1)))
    assert _versions(url, EFFECTIVE + timedelta(days=1)) == [(1, False)]

    # the amendment, effective 5 March, is taken in on 12 March; the next ordinary run
    # (11-20 March) recomputes the agreement from 5 March on
    _take_in_late_amendment(url, tmp_path / "amendments")
    arrive(last)  # the rest arrives after the run of 10 March (the daily roll-ups take it in)
    dbt(url, dbt_target, "build", *WITH_SNAPSHOT, as_of=last, as_of_from=str(mid + timedelta(days=1)))
    assert _versions(url, EFFECTIVE - timedelta(days=1)) == [(1, False)]
    for day in (EFFECTIVE, mid, last):
        assert _versions(url, day) == [(1, True), (2, False)], day
    assert query(url, """select distinct due_date from marts.commitment_statuses
                          where commitment_id = 'clearance-outlet' and agreement_version = 2""") == [(AMENDED_DUE,)]
    # the snapshot still shows what the run of 10 March showed: version 1 in force until 20 March
    shown = query(url, """select s.status = 'superseded', s.dbt_valid_from, s.dbt_valid_to
                            from snapshots.commitment_status_snapshots s
                           where s.commitment_instance_id = 'TM-2026-0001|v1|clearance-outlet|term'
                           order by s.dbt_valid_from""")
    assert shown == [(False, datetime(2026, 3, 10), datetime(2026, 3, 20)), (True, datetime(2026, 3, 20), None)]
    incremental = {t: _dump(url, t) for t in COMPARED}
    rolled_up = {t: _dump_rolled_up(url, t) for t in ROLLED_UP}
    assert rolled_up["int_orders_rolled_up_daily"], "no order rolled up"

    days = query(url, "select count(distinct as_of_date) from marts.commitment_statuses")[0][0]
    assert days == (last - first).days + 1
    # the late February order was taken in when it arrived, and February's KPIs recomputed
    assert query(url, """select active_customers, new_customers from marts.prospect_kpis
                          where kpi_month = '2026-02-01'""") == [(2, 1)]
    # a status changed over the history (the campaign became known on 8 March)
    statuses = query(url, """select as_of_date, progress_value from marts.commitment_statuses
                              where commitment_id = 'traffic-campaigns' order by 1""")
    assert statuses[0][1] == 0 and statuses[-1][1] == 1

    query(url, "drop table intermediate.int_orders_rolled_up_daily, intermediate.int_shipments_rolled_up_daily, "
               "marts.customer_months")
    dbt(url, dbt_target, "build", *MODELS_ONLY, "--full-refresh", as_of=last, history_start=str(first))
    for table in COMPARED:
        assert _dump(url, table) == incremental[table], f"{table} differs after --full-refresh"
    for table in ROLLED_UP:
        assert _dump_rolled_up(url, table) == rolled_up[table], f"{table} differs when rebuilt"

"""What was known on a date: an as-of date sees only files delivered on or before it.

Feed files are delivered day by day, 2 to 5 March 2026, and loaded by the real loader: a
file delivered on day F arrives at 00:00 Asia/Shanghai on F, the very instant day F-1
ends. Each day is built incrementally as of its delivery date, when no later file exists
yet; then the whole history is rebuilt (`--full-refresh`) with every file in the
database. Each as-of date must count exactly the files delivered by then, and the rebuilt
history must equal the day-by-day one row for row: a file delivered the day after an
as-of date never counts for it.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from tracking_data import SHANGHAI, dbt, query

from partnerops.agreements.sample import write_sample_corpus
from partnerops.evidence.load import load_files
from partnerops.intake import run_intake

pytestmark = pytest.mark.integration

DAYS = [date(2026, 3, 2) + timedelta(days=i) for i in range(4)]
MODELS_ONLY = ("--exclude", "test_type:unit", "test_type:data", "resource_type:snapshot")
COMPARED = ("commitment_statuses", "customer_months", "prospect_kpis", "agreement_fulfilment", "threshold_windows")


def _campaign(campaign_id: str, started: date) -> dict:
    start, end = f"{started}T10:00:00+08:00", f"{started}T18:00:00+08:00"
    return {"campaign_id": campaign_id, "brand_id": "B0001", "campaign_type": "traffic", "planned_start_at": start,
            "planned_end_at": end, "actual_start_at": start, "actual_end_at": end, "reach": "1000",
            "status": "completed"}


def _deliver(inbox: Path, day: date) -> list[Path]:
    """The files delivered on `day`: the previous day's traffic campaign and order, and on the
    last day also a campaign from the first day, reported late."""
    campaigns = [_campaign(f"CP-{day}", day - timedelta(days=1))]
    if day == DAYS[-1]:
        campaigns.append(_campaign("CP-LATE", DAYS[0] - timedelta(days=1)))
    paths = [inbox / f"campaign_executions_{day}.jsonl", inbox / f"orders_{day}.csv"]
    paths[0].write_text("".join(json.dumps(c) + "\n" for c in campaigns), encoding="utf-8")
    paths[1].write_text(
        "order_id,brand_id,customer_id,ordered_at,amount,currency,channel,product_lifecycle\n"
        f"O-{day},B0001,C-{day},{day - timedelta(days=1)}T20:00:00+08:00,100.00,CNY,online,in_season\n",
        encoding="utf-8")
    return paths


def _dump(url: str, table: str) -> list[tuple]:
    return query(url, f"select * from marts.{table} order by 1, 2, 3, 4")


def _campaigns_counted(url: str) -> dict[date, int]:
    return dict(query(url, """select as_of_date, progress_value::int from marts.commitment_statuses
                               where commitment_id = 'traffic-campaigns' order by 1"""))


def test_an_as_of_date_sees_only_files_delivered_by_then(dbt_db_url, dbt_target, tmp_path, monkeypatch):
    url = dbt_db_url
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path / "var"))
    corpus = write_sample_corpus(tmp_path / "agreements", brands=1, groups=1, seed=2015, year=2026)
    run_intake([corpus[0].parent], database_url=url, triggered_by="test")
    inbox = tmp_path / "inbox"
    inbox.mkdir()

    for day in DAYS:
        report = load_files(_deliver(inbox, day), database_url=url, triggered_by="test")
        assert sum(f.rows_loaded for f in report.files) == (3 if day == DAYS[-1] else 2)
        out = dbt(url, dbt_target, "build", *MODELS_ONLY, as_of=day)
        if day != DAYS[0]:  # a new as-of date is not a new --vars value: dbt reuses the parsed project
            assert "Unable to do partial parsing" not in out, out[:2000]
    day_by_day = {t: _dump(url, t) for t in COMPARED}

    # each date counts the campaigns of the files delivered by then: one a day, and the late
    # one only from the day its file was delivered
    assert _campaigns_counted(url) == {DAYS[0]: 1, DAYS[1]: 2, DAYS[2]: 3, DAYS[3]: 5}
    loads = query(url, "select distinct arrived_at from raw.evidence_loads order by 1")
    assert [a.astimezone(SHANGHAI).date() for (a,) in loads] == DAYS
    assert all(a.astimezone(SHANGHAI).time().isoformat() == "00:00:00" for (a,) in loads)

    dbt(url, dbt_target, "build", *MODELS_ONLY, "--full-refresh", as_of=DAYS[-1], history_start=str(DAYS[0]))
    assert _campaigns_counted(url) == {DAYS[0]: 1, DAYS[1]: 2, DAYS[2]: 3, DAYS[3]: 5}
    for table in COMPARED:
        assert _dump(url, table) == day_by_day[table], f"{table}: the rebuilt history differs from the day-by-day one"

"""`partnerops status`: rendering, and reading the marts (with plain errors when they are missing)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import psycopg2
import pytest

from partnerops.cli import main
from partnerops.errors import UserError
from partnerops.status import StatusReport, StatusRow, fetch_statuses, render, summary_lines


def _row(commitment_id: str, status: str, obligor: str = "brand", pillar: str = "marketing") -> StatusRow:
    return StatusRow(
        agreement_id="TM-2026-0001", agreement_version=1, brand_name="Lansong Wear", obligor=obligor,
        pillar=pillar, service="traffic", commitment_id=commitment_id, instance_key="term", kind="deliverable",
        status=status, due_date=date(2026, 3, 18), breach_date=date(2026, 3, 20), delivered_at=None,
        status_reason="the other side breached launch-slot (platform), which this depends on"
        if status == "excused" else None, is_due_date_provisional=False, is_disputed=False,
    )


REPORT = StatusReport(as_of=date(2026, 3, 21), rows=[
    _row("launch-slot", "breached", obligor="platform"),
    _row("new-collection-launch", "excused"),
    _row("ship-within-48h", "on_track", pillar="logistics"),
])


def test_table_has_every_row_and_a_summary():
    text = render(REPORT, "table")
    assert text.splitlines()[0] == "Commitment statuses as of 2026-03-21"
    assert "new-collection-launch" in text and "excused" in text
    assert "3 commitment instance(s): breached 1, excused 1, on_track 1" in text
    assert "  side platform: breached 1" in text and "  pillar logistics: on_track 1" in text


def test_json_and_csv_carry_the_same_rows():
    data = json.loads(render(REPORT, "json"))
    assert data["as_of"] == "2026-03-21" and [c["status"] for c in data["commitments"]] == [
        "breached", "excused", "on_track"]
    rows = list(csv.DictReader(io.StringIO(render(REPORT, "csv"))))
    assert len(rows) == 3 and rows[1]["status"] == "excused" and rows[0]["as_of"] == "2026-03-21"
    assert rows[1]["status_reason"].startswith("the other side breached")


def test_unknown_format_is_a_user_error():
    with pytest.raises(UserError, match="unknown format"):
        render(REPORT, "xml")


def test_summary_of_nothing():
    assert summary_lines([]) == ["0 commitment instance(s): "]


def _execute(url: str, sql: str) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def test_fetch_without_marts_says_how_to_build_them(db_url):
    _execute(db_url, "drop schema if exists marts cascade")
    with pytest.raises(UserError, match="status --refresh"):
        fetch_statuses(db_url)


def test_fetch_reads_the_requested_date_and_agreement(db_url):
    _execute(db_url, """
        drop schema if exists marts cascade;
        create schema marts;
        create table marts.commitment_statuses (
            as_of_date date, agreement_id text, agreement_version integer, brand_name text, obligor text,
            pillar text, service text, commitment_id text, instance_key text, kind text, status text,
            due_date date, breach_date date, delivered_at timestamptz, status_reason text,
            is_due_date_provisional boolean, is_disputed boolean);
        insert into marts.commitment_statuses values
            ('2026-03-20', 'TM-1', 1, 'B', 'brand', 'channel', 'o2o', 'c1', 'term', 'quota', 'on_track',
             '2026-12-31', '2026-12-31', null, null, false, false),
            ('2026-03-21', 'TM-1', 1, 'B', 'brand', 'channel', 'o2o', 'c1', 'term', 'quota', 'at_risk',
             '2026-12-31', '2026-12-31', null, null, false, false),
            ('2026-03-21', 'TM-1', 2, 'B', 'brand', 'channel', 'o2o', 'c1', 'term', 'quota', 'superseded',
             '2026-12-31', '2026-12-31', null, null, false, false),
            ('2026-03-21', 'TM-2', 1, 'C', 'platform', 'marketing', 'traffic', 'c2', 'term', 'deliverable',
             'delivered', '2026-03-01', '2026-03-03', '2026-02-27 02:00:00+00', null, false, true);
    """)
    latest = fetch_statuses(db_url)
    assert latest.as_of == date(2026, 3, 21) and [r.status for r in latest.rows] == ["at_risk", "delivered"]
    assert latest.rows[1].delivered_at.startswith("2026-02-27")
    assert [r.status for r in fetch_statuses(db_url, as_of=date(2026, 3, 20)).rows] == ["on_track"]
    assert len(fetch_statuses(db_url, agreement_id="TM-1", include_superseded=True).rows) == 2
    with pytest.raises(UserError, match="no statuses computed as of 2026-01-01"):
        fetch_statuses(db_url, as_of=date(2026, 1, 1))
    with pytest.raises(UserError, match="no commitments of agreement 'TM-9'"):
        fetch_statuses(db_url, agreement_id="TM-9")
    _execute(db_url, "drop schema marts cascade")


def test_cli_status_json(project_env, db_url, capsys):
    _execute(db_url, """
        drop schema if exists marts cascade;
        create schema marts;
        create table marts.commitment_statuses as
        select '2026-03-21'::date as as_of_date, 'TM-1'::text as agreement_id, 1 as agreement_version,
               'B'::text as brand_name, 'brand'::text as obligor, 'channel'::text as pillar, 'o2o'::text as service,
               'c1'::text as commitment_id, 'term'::text as instance_key, 'quota'::text as kind,
               'at_risk'::text as status, null::date as due_date, null::date as breach_date,
               null::timestamptz as delivered_at, null::text as status_reason,
               false as is_due_date_provisional, false as is_disputed;
    """)
    assert main(["status", "--as-of", "2026-03-21", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["commitments"][0]["status"] == "at_risk"
    assert main(["status", "--as-of", "21/03/2026"]) == 1
    assert "not a date" in capsys.readouterr().err
    _execute(db_url, "drop schema marts cascade")

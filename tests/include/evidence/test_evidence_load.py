"""Loading evidence files: exactly once in effect, bad rows quarantined, all or nothing per file."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import pytest
from db_query import query

from partnerops.cli import main
from partnerops.errors import UserError
from partnerops.evidence.load import APPLICATION_NAME, load_files

SHIPMENTS_HEADER = "order_id,brand_id,paid_at,shipped_at,delivered_at,carrier,warehouse_id"
CST = timezone(timedelta(hours=8))


def shipment_line(i: int, paid: datetime) -> str:
    shipped = paid + timedelta(hours=5 + i % 40)
    delivered = shipped + timedelta(hours=30)
    return (f"O{i:09d},B{i % 7 + 1:04d},{paid.isoformat()},{shipped.isoformat()},{delivered.isoformat()},"
            f"SF,WH-HZ-01")


def write_shipments(path: Path, ids: range, day: date = date(2026, 3, 2)) -> Path:
    base = datetime(day.year, day.month, day.day, tzinfo=CST)
    lines = [SHIPMENTS_HEADER] + [shipment_line(i, base + timedelta(seconds=i % 86_400)) for i in ids]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def manifest(url: str) -> list[tuple]:
    return query(url, """select rows_in_file, rows_loaded, rows_duplicate, rows_quarantined, status
                           from raw.evidence_loads order by load_id""")


def test_a_file_loaded_twice_counts_nothing_twice(db_url, tmp_path):
    path = write_shipments(tmp_path / "shipments_2026-03-05.csv", range(1000))
    first = load_files([path], database_url=db_url)
    second = load_files([path], database_url=db_url)
    assert (first.files[0].rows_loaded, first.files[0].rows_duplicate) == (1000, 0)
    assert (second.files[0].rows_loaded, second.files[0].rows_duplicate) == (0, 1000)
    assert query(db_url, "select count(*), count(distinct order_id) from raw.shipments") == [(1000, 1000)]
    assert manifest(db_url) == [(1000, 1000, 0, 0, "loaded"), (1000, 0, 1000, 0, "loaded")]
    # the rows keep the load and arrival of the first file
    assert query(db_url, "select distinct load_id from raw.shipments") == [(first.files[0].load_id,)]


def test_two_overlapping_files_share_rows(db_url, tmp_path):
    a = write_shipments(tmp_path / "shipments_2026-03-05.csv", range(0, 600))
    b = write_shipments(tmp_path / "shipments_2026-03-06.csv", range(400, 1000))
    report = load_files([b, a], database_url=db_url)  # loaded in delivery order whatever the order given
    assert [Path(f.file).name for f in report.files] == [a.name, b.name]
    assert [(f.rows_loaded, f.rows_duplicate) for f in report.files] == [(600, 0), (400, 200)]
    rows = query(db_url, """select (arrived_at at time zone 'Asia/Shanghai')::date, count(*)
                              from raw.shipments group by 1 order by 1""")
    assert rows == [(date(2026, 3, 5), 600), (date(2026, 3, 6), 400)]


def test_a_row_repeated_within_a_file_is_one_row(db_url, tmp_path):
    path = write_shipments(tmp_path / "shipments_2026-03-05.csv", range(10))
    with path.open("a") as f:
        f.write(shipment_line(3, datetime(2026, 3, 2, 0, 0, 3, tzinfo=CST)) + "\n")
    report = load_files([path], database_url=db_url)
    assert (report.files[0].rows_in_file, report.files[0].rows_loaded, report.files[0].rows_duplicate) == (11, 10, 1)


def test_five_percent_malformed_rows_are_quarantined_and_the_rest_load(db_url, tmp_path):
    base = datetime(2026, 3, 2, tzinfo=CST)
    lines, expected_bad = [SHIPMENTS_HEADER], {}
    breakers = [
        (lambda s: s.replace(",SF,", ",,"), "carrier", "required field is empty"),
        (lambda s: s.replace("+08:00", "", 1), "paid_at", "has no UTC offset"),
        (lambda s: s.replace("2026-03-02T", "2026-02-30T", 1), "paid_at", "is not a timestamp"),
        (lambda s: s.rsplit(",", 2)[0], None, "expected 7 fields, found 5"),
        (lambda s: s.replace(",B", ",B?", 1), "brand_id", "is not an id"),
    ]
    for i in range(2000):
        line = shipment_line(i, base + timedelta(seconds=i * 30))
        if i % 20 == 7:  # 5 %
            breaker, field, reason = breakers[(i // 20) % len(breakers)]
            line = breaker(line)
            expected_bad[i + 2] = (field, reason)  # line numbers count the header as line 1
        lines.append(line)
    # a rule across fields, checked in the database: shipped before paid
    paid = base + timedelta(hours=3)
    lines.append(f"OX1,B0001,{paid.isoformat()},{(paid - timedelta(hours=1)).isoformat()},,SF,WH-1")
    expected_bad[len(lines)] = ("shipped_at", "shipped_at is before paid_at")
    path = tmp_path / "shipments_2026-03-05.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    f = load_files([path], database_url=db_url).files[0]
    assert (f.rows_in_file, f.rows_loaded, f.rows_duplicate, f.rows_quarantined) == (2001, 1900, 0, 101)
    assert f.rows_in_file == f.rows_loaded + f.rows_duplicate + f.rows_quarantined
    stored = query(db_url, "select line_no, field, reason, file_path, raw_line from raw.evidence_quarantine")
    assert {line_no for line_no, *_ in stored} == set(expected_bad)
    for line_no, field, reason, file_path, raw_line in stored:
        want_field, want_reason = expected_bad[line_no]
        assert field == want_field and want_reason in reason, (line_no, field, reason)
        assert file_path == str(path.resolve()) and raw_line
    assert query(db_url, "select count(*) from raw.shipments") == [(1900,)]
    assert manifest(db_url) == [(2001, 1900, 0, 101, "loaded")]


def test_late_rows_land_on_their_business_date_with_a_later_arrival(db_url, tmp_path):
    on_time = write_shipments(tmp_path / "shipments_2026-03-03.csv", range(0, 50), day=date(2026, 3, 2))
    late = write_shipments(tmp_path / "shipments_2026-03-09.late.csv", range(50, 60), day=date(2026, 3, 2))
    load_files([tmp_path], database_url=db_url)
    rows = query(db_url, """select business_date, (arrived_at at time zone 'Asia/Shanghai')::text, count(*)
                              from raw.shipments group by 1, 2 order by 2""")
    assert rows == [(date(2026, 3, 2), "2026-03-03 00:00:00", 50), (date(2026, 3, 2), "2026-03-09 00:00:00", 10)]
    # as known on 2026-03-05 the late rows did not exist yet
    known = query(db_url, "select count(*) from raw.shipments where arrived_at <= '2026-03-05 00:00+08'")
    assert known == [(50,)]
    assert on_time.exists() and late.exists()


def test_business_date_is_the_shanghai_date_and_months_get_partitions(db_url, tmp_path):
    path = tmp_path / "shipments_2026-05-01.csv"
    # 2026-03-31 17:30 UTC is 2026-04-01 01:30 in Shanghai
    path.write_text(SHIPMENTS_HEADER + "\n"
                    "OA,B0001,2026-03-31T17:30:00Z,2026-04-01T09:00:00+08:00,,SF,WH-1\n"
                    "OB,B0001,2026-03-31T10:00:00+08:00,2026-03-31T12:00:00+08:00,,SF,WH-1\n", encoding="utf-8")
    load_files([path], database_url=db_url)
    rows = query(db_url, "select order_id, business_date, tableoid::regclass::text from raw.shipments order by 1")
    assert rows == [("OA", date(2026, 4, 1), "raw.shipments_p2026_04"), ("OB", date(2026, 3, 31),
                                                                        "raw.shipments_p2026_03")]


def test_json_lines_feed_with_rules(db_url, tmp_path):
    path = tmp_path / "campaign_executions_2026-03-10.jsonl"
    path.write_text(
        '{"campaign_id":"C1","brand_id":"B0001","campaign_type":"traffic","planned_start_at":"2026-03-01T10:00:00+08:00",'
        '"planned_end_at":"2026-03-03T10:00:00+08:00","actual_start_at":"2026-03-01T11:00:00+08:00",'
        '"actual_end_at":"2026-03-03T11:00:00+08:00","reach":1200,"status":"completed"}\n'
        '{"campaign_id":"C2","brand_id":"B0001","campaign_type":"traffic","planned_start_at":"2026-03-01T10:00:00+08:00",'
        '"planned_end_at":"2026-03-03T10:00:00+08:00","status":"completed"}\n'
        '{"campaign_id":"C3","brand_id":"B0001","campaign_type":"celebrity","planned_start_at":"2026-03-05T10:00:00+08:00",'
        '"planned_end_at":"2026-03-06T10:00:00+08:00","status":"cancelled"}\n'
        '{"campaign_id":"C4","brand_id":"B0001","campaign_type":"party"}\n'
        'not json\n',
        encoding="utf-8",
    )
    f = load_files([path], database_url=db_url).files[0]
    assert (f.rows_in_file, f.rows_loaded, f.rows_quarantined) == (5, 2, 3)
    assert query(db_url, "select campaign_id, business_date, status from raw.campaign_executions order by 1") == [
        ("C1", date(2026, 3, 1), "completed"), ("C3", date(2026, 3, 5), "cancelled")]
    reasons = dict(query(db_url, "select line_no, reason from raw.evidence_quarantine"))
    assert "completed campaign needs actual_start_at" in reasons[2]
    assert "'party' is not one of" in reasons[4]
    assert "not a JSON object" in reasons[5]


def test_a_file_with_a_wrong_header_is_rejected_line_by_line(db_url, tmp_path):
    path = tmp_path / "orders_2026-03-05.csv"
    path.write_text("order_id,brand\nO1,B1\nO2,B2\n", encoding="utf-8")
    f = load_files([path], database_url=db_url).files[0]
    assert (f.status, f.rows_in_file, f.rows_quarantined) == ("rejected", 2, 2)
    assert "unknown column(s) brand" in f.problems[0].reason
    assert manifest(db_url) == [(2, 0, 0, 2, "rejected")]


def _terminate_when(url: str, query_prefix: str, stop: threading.Event, killed: list[str]) -> None:
    """Kill the first load in the test's database that runs `query_prefix...`: only there, so that the
    loads of another test worker or of a bench on the same server are left alone."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute(
                    """select pid, query from pg_stat_activity
                        where datname = current_database() and application_name = %s and state = 'active'
                          and query ilike %s""",
                    (APPLICATION_NAME, query_prefix + "%"),
                )
                for pid, q in cur.fetchall():
                    cur.execute("select pg_terminate_backend(%s)", (pid,))
                    killed.append(q)
                    return
                time.sleep(0.005)
    finally:
        conn.close()


#: Enough rows that each phase of the load runs long enough (a few tenths of a second) to be killed in.
ROWS_KILLED_MID_LOAD = 60_000


@pytest.mark.parametrize("phase", ["copy raw.shipments", "copy staging_shipments", "insert into raw.shipments"])
def test_a_connection_killed_mid_load_leaves_nothing_and_a_retry_loads_once(db_url, tmp_path, phase):
    path = write_shipments(tmp_path / "shipments_2026-03-05.csv", range(ROWS_KILLED_MID_LOAD))
    repeated = 0 if phase == "copy raw.shipments" else 1  # a repeated last row sends the file to the staging path
    if repeated:
        with path.open("a") as f:
            f.write(shipment_line(3, datetime(2026, 3, 2, 0, 0, 3, tzinfo=CST)) + "\n")
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_terminate_when, args=(db_url, phase, stop, killed))
    killer.start()
    try:
        with pytest.raises(UserError, match="lost the database connection.*Nothing of this file was kept"):
            load_files([path], database_url=db_url)
    finally:
        stop.set()
        killer.join()
    assert killed and killed[0].lower().startswith(phase)
    assert query(db_url, "select count(*) from raw.shipments") == [(0,)]
    assert query(db_url, "select count(*) from raw.evidence_loads") == [(0,)]

    retry = load_files([path], database_url=db_url).files[0]
    assert (retry.rows_loaded, retry.rows_duplicate) == (ROWS_KILLED_MID_LOAD, repeated)
    again = load_files([path], database_url=db_url).files[0]
    assert (again.rows_loaded, again.rows_duplicate) == (0, ROWS_KILLED_MID_LOAD + repeated)
    assert query(db_url, "select count(*), count(distinct order_id) from raw.shipments") == [
        (ROWS_KILLED_MID_LOAD, ROWS_KILLED_MID_LOAD)]


def test_cli_load_reports_bad_input_without_a_traceback(project_env, tmp_path, capsys):
    good = write_shipments(tmp_path / "in" / "shipments_2026-03-05.csv", range(5))
    oddly_named = tmp_path / "in" / "shipments-march.csv"
    oddly_named.write_text(SHIPMENTS_HEADER + "\n", encoding="utf-8")
    assert main(["load", str(good.parent)]) == 1
    out = capsys.readouterr()
    assert "5 loaded" in out.out and "shipments-march.csv: not loaded: name feed files" in out.out
    assert main(["load", str(tmp_path / "missing")]) == 1
    out = capsys.readouterr()
    assert f"{tmp_path / 'missing'}: not loaded: no such file or folder" in out.out and "Traceback" not in out.err


# -- the fast path: a file of new, valid rows is copied straight into the raw table --------------


def load_paths(url: str) -> list[tuple]:
    return query(url, "select load_path, rows_in_file, rows_loaded, rows_duplicate, rows_quarantined "
                      "from raw.evidence_loads order by load_id")


def test_a_new_file_takes_the_fast_path_with_the_same_derived_columns(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr("partnerops.evidence.load.COPY_SEGMENT_ROWS", 2)  # several COPYs per file
    paid = ["2026-03-31T17:30:00Z", "2026-03-31T10:00:00+08:00", "2026-04-30T16:00:00.25+00:00",
            "2026-03-15T23:59:59-05:00", "2026-04-02T08:00:00+08:00"]
    lines = [f"O{i},B0001,{p},2026-05-02T00:00:00+08:00,,SF,WH-1" for i, p in enumerate(paid)]
    path = tmp_path / "shipments_2026-05-01.csv"
    path.write_text("\n".join([SHIPMENTS_HEADER, *lines]) + "\n", encoding="utf-8")
    # summer time in Shanghai (1986-1991): a file of its own, delivered then, so its dates are plausible
    summer = tmp_path / "shipments_1988-06-03.csv"
    summer.write_text(f"{SHIPMENTS_HEADER}\nO9,B0001,1988-06-01T23:30:00+08:00,1988-06-02T10:00:00+08:00,,SF,WH-1\n",
                      encoding="utf-8")
    old, f = load_files([path, summer], database_url=db_url).files
    assert (old.load_path, old.rows_in_file, old.rows_loaded, old.min_business_date) == ("fast", 1, 1, date(1988, 6, 2))
    assert (f.load_path, f.rows_in_file, f.rows_loaded, f.rows_duplicate, f.rows_quarantined) == ("fast", 5, 5, 0, 0)
    assert (f.min_business_date, f.max_business_date) == (date(2026, 3, 16), date(2026, 5, 1))
    # business_date as the staging path derives it in SQL (summer time in 1988 included)
    assert query(db_url, """select count(*) from raw.shipments
                             where business_date <> (paid_at at time zone 'Asia/Shanghai')::date""") == [(0,)]
    assert query(db_url, "select distinct load_id, arrived_at = '2026-05-01 00:00+08' from raw.shipments "
                         "where order_id <> 'O9'") == [(f.load_id, True)]
    assert query(db_url, "select tableoid::regclass::text, count(*) from raw.shipments group by 1 order by 1") == [
        ("raw.shipments_p1988_06", 1), ("raw.shipments_p2026_03", 2), ("raw.shipments_p2026_04", 2),
        ("raw.shipments_p2026_05", 1)]
    assert load_paths(db_url) == [("fast", 1, 1, 0, 0), ("fast", 5, 5, 0, 0)]


@pytest.mark.parametrize("segment_rows", [100_000, 7])
def test_a_file_with_one_row_already_loaded_falls_back_and_counts_one_duplicate(db_url, tmp_path, monkeypatch,
                                                                                segment_rows):
    monkeypatch.setattr("partnerops.evidence.load.COPY_SEGMENT_ROWS", segment_rows)
    first = write_shipments(tmp_path / "shipments_2026-03-05.csv", range(999, 1000))
    second = write_shipments(tmp_path / "shipments_2026-03-06.csv", range(1000))  # the duplicate is the last row
    report = load_files([first, second], database_url=db_url)
    assert [f.load_path for f in report.files] == ["fast", "merge"]
    assert load_paths(db_url) == [("fast", 1, 1, 0, 0), ("merge", 1000, 999, 1, 0)]
    assert query(db_url, "select count(*), count(distinct order_id) from raw.shipments") == [(1000, 1000)]
    assert query(db_url, "select load_id, count(*) from raw.shipments group by 1 order by 1") == [
        (report.files[0].load_id, 1), (report.files[1].load_id, 999)]


def test_files_with_a_malformed_row_or_a_broken_rule_take_the_staging_path(db_url, tmp_path):
    malformed = write_shipments(tmp_path / "shipments_2026-03-05.csv", range(100))
    with malformed.open("a") as f:
        f.write("O-bad,B0001,yesterday,,,SF,WH-1\n")
    breaker = write_shipments(tmp_path / "shipments_2026-03-06.csv", range(100, 200))
    with breaker.open("a") as f:
        f.write("O-early,B0001,2026-03-02T10:00:00+08:00,2026-03-02T09:00:00+08:00,,SF,WH-1\n")
    load_files([malformed, breaker], database_url=db_url)
    assert load_paths(db_url) == [("merge", 101, 100, 0, 1), ("merge", 101, 100, 0, 1)]
    assert query(db_url, "select line_no, field from raw.evidence_quarantine order by load_id") == [
        (102, "paid_at"), (102, "shipped_at")]


def test_json_lines_with_quoted_text_and_a_business_date_from_two_fields_take_the_fast_path(db_url, tmp_path):
    attestations = tmp_path / "attestations_2026-03-10.jsonl"
    attestations.write_text(
        '{"agreement_id":"TM-1","commitment_id":"c1","attested_by":"li.na@example.com",'
        '"attested_at":"2026-03-09T18:00:00+08:00","note":"opened, with \\"photos\\"","reference":null}\n',
        encoding="utf-8")
    campaigns = tmp_path / "campaign_executions_2026-03-10.jsonl"
    campaigns.write_text(
        '{"campaign_id":"C1","brand_id":"B0001","campaign_type":"traffic","planned_start_at":'
        '"2026-03-01T10:00:00+08:00","planned_end_at":"2026-03-03T10:00:00+08:00","actual_start_at":'
        '"2026-03-02T11:00:00+08:00","actual_end_at":"2026-03-03T11:00:00+08:00","reach":1200,"status":"completed"}\n'
        '{"campaign_id":"C3","brand_id":"B0001","campaign_type":"celebrity","planned_start_at":'
        '"2026-03-05T10:00:00+08:00","planned_end_at":"2026-03-06T10:00:00+08:00","status":"cancelled"}\n',
        encoding="utf-8")
    report = load_files([attestations, campaigns], database_url=db_url)
    assert [(f.feed, f.load_path, f.rows_loaded) for f in report.files] == [
        ("campaign_executions", "fast", 2), ("attestations", "fast", 1)]
    assert query(db_url, "select note, reference, business_date from raw.attestations") == [
        ('opened, with "photos"', None, date(2026, 3, 9))]
    assert query(db_url, "select campaign_id, business_date from raw.campaign_executions order by 1") == [
        ("C1", date(2026, 3, 2)), ("C3", date(2026, 3, 5))]


def test_content_loaded_before_takes_the_staging_path(db_url, tmp_path):
    """The same rows under another name are duplicates; files without rows are each a delivery."""
    a = write_shipments(tmp_path / "shipments_2026-03-05.csv", range(3))
    b = write_shipments(tmp_path / "shipments_2026-03-06.csv", range(3))
    empty = [write_shipments(tmp_path / f"shipments_2026-03-0{day}.csv", range(0)) for day in (7, 8)]
    load_files([a, b, *empty], database_url=db_url)
    assert load_paths(db_url) == [("fast", 3, 3, 0, 0), ("merge", 3, 0, 3, 0), ("fast", 0, 0, 0, 0),
                                  ("fast", 0, 0, 0, 0)]


def test_a_days_rows_are_found_without_reading_the_month(db_url, tmp_path):
    """The BRIN index on arrived_at is summarized after a load: a later day's rows skip the earlier ones' pages."""
    first = write_shipments(tmp_path / "shipments_2026-03-03.csv", range(0, 40_000), day=date(2026, 3, 2))
    second = write_shipments(tmp_path / "shipments_2026-03-04.csv", range(40_000, 50_000), day=date(2026, 3, 3))
    load_files([first], database_url=db_url)
    load_files([second], database_url=db_url)
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_relation_size('raw.shipments_p2026_03') / current_setting('block_size')::int")
            pages = cur.fetchone()[0]
            cur.execute("set enable_seqscan = off")  # the plan a day's roll-up uses on a big month
            cur.execute("""explain (analyze, format json) select count(*) from raw.shipments
                            where arrived_at >= '2026-03-04 00:00+08'""")
            plan = cur.fetchone()[0][0]["Plan"]
            cur.execute("select count(*) from raw.shipments where arrived_at >= '2026-03-04 00:00+08'")
            assert cur.fetchone()[0] == 10_000
    finally:
        conn.close()

    def heap_blocks(node: dict) -> int:
        own = node.get("Lossy Heap Blocks", 0) + node.get("Exact Heap Blocks", 0)
        return own + sum(heap_blocks(child) for child in node.get("Plans", []))

    assert pages > 200
    assert 0 < heap_blocks(plan) < pages / 2

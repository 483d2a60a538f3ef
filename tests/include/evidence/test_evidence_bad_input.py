"""Bad evidence input: every bad row and every unreadable path is reported with its reason, and
the rest of the file and of the batch still loads. On the real PostgreSQL."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import psycopg2
import pytest
from db_query import query

from partnerops.cli import main
from partnerops.evidence import load as load_module
from partnerops.evidence.feeds import FEEDS
from partnerops.evidence.load import load_files
from partnerops.evidence.validate import MAX_QUOTED, check_value

SHIPMENTS_HEADER = "order_id,brand_id,paid_at,shipped_at,delivered_at,carrier,warehouse_id"
ORDERS_HEADER = "order_id,brand_id,customer_id,ordered_at,amount,currency,channel,product_lifecycle"


def order(i: int, at: str = "2026-03-04T10:00:00+08:00", brand: str = "B0001") -> str:
    return f"O{i},{brand},C{i},{at},10.00,CNY,online,new"


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def quarantined(url: str) -> list[tuple]:
    return query(url, "select line_no, field, reason from raw.evidence_quarantine order by load_id, line_no")


def attestation(**fields: object) -> str:
    row = {"agreement_id": "TM-1", "commitment_id": "c1", "attested_by": "li.na@example.com",
           "attested_at": "2026-03-04T18:00:00+08:00"}
    row.update(fields)
    return json.dumps(row)


# -- rows ----------------------------------------------------------------------------------------


def test_a_utc_offset_beyond_fourteen_hours_is_quarantined_and_the_file_loads(db_url, tmp_path):
    path = write(tmp_path / "orders_2026-03-05.csv", [
        ORDERS_HEADER, order(1), order(2, "2026-03-04T10:00:00+15:00"), order(3, "2026-03-04T10:00:00-16:30"),
        order(4, "2026-03-04T10:00:00+14:00")])
    f = load_files([path], database_url=db_url).files[0]
    assert (f.status, f.rows_loaded, f.rows_quarantined) == ("loaded", 2, 2)
    rows = quarantined(db_url)
    assert [(line, field) for line, field, _ in rows] == [(3, "ordered_at"), (4, "ordered_at")]
    assert all("UTC offset beyond the -14:00..+14:00" in reason for *_, reason in rows)


def test_a_row_the_database_refuses_after_the_python_checks_is_quarantined_with_its_reason(
        db_url, tmp_path, monkeypatch):
    # Let the Python check pass offsets PostgreSQL refuses (beyond 15:59): the database's refusal is
    # then the only check, as for any value a future format allows and the database does not.
    monkeypatch.setattr("partnerops.evidence.validate.MAX_UTC_OFFSET", load_module.timedelta(hours=23))
    path = write(tmp_path / "orders_2026-03-05.csv",
                 [ORDERS_HEADER, order(1), order(2, "2026-03-04T10:00:00+16:00"), order(3)])
    report = load_files([path], database_url=db_url)
    f = report.files[0]
    assert (f.status, f.load_path, f.rows_loaded, f.rows_quarantined) == ("loaded", "merge", 2, 1)
    [(line, field, reason)] = quarantined(db_url)
    assert (line, field) == (3, "ordered_at")
    assert "the database refused the row" in reason and "time zone displacement out of range" in reason
    assert "connection" not in reason
    assert query(db_url, "select order_id from raw.orders order by 1") == [("O1",), ("O3",)]


def test_a_row_the_raw_table_refuses_at_the_merge_is_quarantined_alone(db_url, tmp_path):
    # A rule only the database knows (as a constraint added later would be): the merge refuses one row.
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("alter table raw.orders add constraint no_b0666 check (brand_id <> 'B0666')")
        path = write(tmp_path / "orders_2026-03-05.csv",
                     [ORDERS_HEADER, order(1), order(2, brand="B0666"), order(3), order(1)])
        f = load_files([path], database_url=db_url).files[0]
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("alter table raw.orders drop constraint if exists no_b0666")
        conn.close()
    assert (f.rows_in_file, f.rows_loaded, f.rows_duplicate, f.rows_quarantined) == (4, 2, 1, 1)
    [(line, _field, reason)] = quarantined(db_url)
    assert line == 3 and "no_b0666" in reason


def test_deeply_nested_json_and_a_lone_surrogate_are_quarantined(db_url, tmp_path):
    deep = '{"agreement_id":' + "[" * 100_000 + "]" * 100_000 + "}"
    path = write(tmp_path / "attestations_2026-03-05.jsonl", [
        attestation(), deep, attestation(commitment_id="c2", note="half \ud800 a pair"),
        attestation(commitment_id="c3", note=[[["x"]]]), attestation(commitment_id="c4", note="fine \u00e9")])
    f = load_files([path], database_url=db_url).files[0]
    assert (f.status, f.rows_loaded, f.rows_quarantined) == ("loaded", 2, 3)
    rows = quarantined(db_url)
    assert [(line, field) for line, field, _ in rows] == [(2, None), (3, "note"), (4, "note")]
    assert "nested too deeply" in rows[0][2]
    assert "\\ud800" in rows[1][2] and "surrogate" in rows[1][2]
    assert query(db_url, "select commitment_id, note from raw.attestations order by 1") == [
        ("c1", None), ("c4", "fine \u00e9")]


def test_a_reason_quotes_at_most_200_characters_of_the_value(db_url, tmp_path):
    long_id = "B" + "?" * 5000
    path = write(tmp_path / "orders_2026-03-05.csv", [ORDERS_HEADER, order(1, brand=long_id)])
    load_files([path], database_url=db_url)
    [(_, field, reason)] = quarantined(db_url)
    assert field == "brand_id"
    assert reason.startswith(f"'{long_id[:MAX_QUOTED]}'... (5,001 characters) is not an id")
    assert len(reason) < MAX_QUOTED + 150


@pytest.mark.parametrize("kind, good, bad", [
    ("id", "TM-2026-0042", "TM-2026-0042\n"), ("currency", "CNY", "CNY\n"), ("date", "2026-03-04", "2026-03-04\n"),
    ("date", "2026-03-04", "\uff12\uff10\uff12\uff16-03-04"), ("count", "12", "12\n"), ("count", "12", "\uff11\uff12"),
    ("enum", "online", "online\n"), ("amount", "10.00", "10.00\n"), ("timestamp", "2026-03-04T10:00:00+08:00",
                                                                  "2026-03-04T10:00:00+08:00\n")])
def test_no_pattern_accepts_a_trailing_line_break_or_other_digits(kind, good, bad):
    column = next(c for feed in FEEDS.values() for c in feed.columns
                  if c.kind == kind and (kind != "enum" or good in c.values))
    assert check_value(column, good) is not None
    with pytest.raises(ValueError):
        check_value(column, bad)


# -- dates far apart -------------------------------------------------------------------------------


def test_rows_dated_outside_the_plausible_window_are_quarantined_and_make_no_partition(db_url, tmp_path):
    path = write(tmp_path / "orders_2026-03-05.csv", [
        ORDERS_HEADER, order(1), order(2, "2000-01-15T10:00:00+08:00"), order(3, "2030-12-15T10:00:00+08:00"),
        order(4, "1900-01-01T10:00:00+08:00"), order(5, "2999-12-31T10:00:00+08:00"),
        order(6, "2027-03-06T23:59:59+08:00"), order(7, "2027-03-07T00:00:00+08:00"),
        order(8, "2025-03-04T00:00:00+08:00"), order(9, "2025-03-03T23:59:59+08:00")])
    f = load_files([path], database_url=db_url).files[0]
    assert (f.rows_loaded, f.rows_quarantined) == (3, 6)
    rows = quarantined(db_url)
    assert [line for line, *_ in rows] == [3, 4, 5, 6, 8, 10]
    assert all(field == "ordered_at" and "outside the plausible dates 2025-03-04..2027-03-06" in reason
               and "delivery date 2026-03-05" in reason for _, field, reason in rows)
    assert rows[0][2].startswith("dated 2000-01-15")
    partitions = {name for (name,) in query(db_url, """select c.relname from pg_inherits i join pg_class c
                                                          on c.oid = i.inhrelid
                                                       where i.inhparent = 'raw.orders'::regclass""")}
    assert {"orders_p2025_03", "orders_p2026_03", "orders_p2027_03"} <= partitions
    assert not partitions & {"orders_p2000_01", "orders_p2030_12", "orders_p1900_01", "orders_p2999_12"}
    assert query(db_url, "select count(*) from raw.orders_default") == [(0,)]


def test_the_window_follows_the_agreements_terms_and_its_margin_is_a_setting(db_url, tmp_path, monkeypatch):
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute("insert into raw.intake_runs (triggered_by) values ('test') returning intake_run_id")
        run_id = cur.fetchone()[0]
        cur.execute(
            """insert into raw.agreement_versions (agreement_id, version, title, brand_id, brand_name, group_id,
                   group_name, signed_date, term_start, term_end, timezone, account_manager_name,
                   account_manager_email, gmv_target_amount, gmv_target_currency, document, content_hash,
                   source_file, intake_run_id)
               values ('TM-1', 1, 't', 'B0001', 'b', 'G1', 'g', '2025-12-01', '2026-01-01', '2026-12-31',
                       'Asia/Shanghai', 'n', 'n@example.com', 1, 'CNY', '{}', 'h', 'f', %s)""", (run_id,))
    conn.close()
    monkeypatch.setenv("PARTNEROPS_EVIDENCE_DATE_MARGIN_DAYS", "31")
    path = write(tmp_path / "orders_2026-03-05.csv", [
        ORDERS_HEADER, order(1, "2025-12-01T00:00:00+08:00"), order(2, "2025-11-30T23:59:59+08:00"),
        order(3, "2027-01-31T23:00:00+08:00"), order(4, "2027-02-01T00:00:00+08:00")])
    f = load_files([path], database_url=db_url).files[0]
    assert (f.rows_loaded, f.rows_quarantined) == (2, 2)
    rows = quarantined(db_url)
    assert [line for line, *_ in rows] == [3, 5]
    assert "the agreements' terms 2026-01-01..2026-12-31 \u00b1 31 days" in rows[0][2]


def test_db_upgrade_creates_the_partitions_of_the_agreements_window(project_env, db_url, capsys):
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute("insert into raw.intake_runs (triggered_by) values ('test') returning intake_run_id")
        cur.execute(
            """insert into raw.agreement_versions (agreement_id, version, title, brand_id, brand_name, group_id,
                   group_name, signed_date, term_start, term_end, timezone, account_manager_name,
                   account_manager_email, gmv_target_amount, gmv_target_currency, document, content_hash,
                   source_file, intake_run_id)
               values ('TM-1', 1, 't', 'B0001', 'b', 'G1', 'g', '2040-12-01', '2041-01-01', '2041-12-31',
                       'Asia/Shanghai', 'n', 'n@example.com', 1, 'CNY', '{}', 'h', 'f', %s)""", (cur.fetchone()[0],))
    conn.close()
    assert main(["db", "upgrade"]) == 0
    assert "monthly evidence partition(s) created" in capsys.readouterr().out
    for table in ("orders", "shipments"):
        names = {n for (n,) in query(db_url, "select c.relname from pg_inherits i join pg_class c "
                                             "on c.oid = i.inhrelid where i.inhparent = %s::regclass",
                                     (f"raw.{table}",))}
        assert {f"{table}_p2040_01", f"{table}_p2041_06", f"{table}_p2042_12"} <= names
    assert main(["db", "upgrade"]) == 0  # again: nothing to create
    assert "partition" not in capsys.readouterr().out


# -- files -----------------------------------------------------------------------------------------


def test_paths_that_are_not_regular_files_are_reported_and_the_others_load(db_url, tmp_path):
    inbox = tmp_path / "in"
    good = write(inbox / "orders_2026-03-05.csv", [ORDERS_HEADER, order(1)])
    os.mkfifo(inbox / "orders_2026-03-06.csv")
    (inbox / "orders_2026-03-07.csv").symlink_to("/dev/zero")
    (inbox / "orders_2026-03-08.csv").mkdir()
    write(inbox / "orders_2026-03-08.csv" / "orders_2026-03-08.csv", [ORDERS_HEADER, order(8)])
    (inbox / "orders_2026-03-09.csv").symlink_to(inbox / "gone.csv")
    report = load_files([inbox, tmp_path / "missing.csv"], database_url=db_url)
    assert [Path(f.file).name for f in report.files] == [good.name, "orders_2026-03-08.csv"]
    assert sum(f.rows_loaded for f in report.files) == 2
    why = {line.split(": not loaded: ")[0]: line.split(": not loaded: ")[1] for line in report.skipped}
    assert why == {
        str(inbox / "orders_2026-03-06.csv"): "is a named pipe (FIFO), not a regular file; only regular files are read",
        str(inbox / "orders_2026-03-07.csv"): "is a device (a link to /dev/zero), not a regular file; only regular "
                                              "files are read",
        str(inbox / "orders_2026-03-08.csv"): load_module._FOLDER_NAMED_LIKE_A_FILE,
        str(inbox / "orders_2026-03-09.csv"): f"is a link to {inbox / 'gone.csv'}, which does not exist",
        str(tmp_path / "missing.csv"): "no such file or folder",
    }


def test_a_file_larger_than_the_bound_is_reported_unread(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(load_module, "MAX_FEED_FILE_BYTES", 100)
    big = write(tmp_path / "orders_2026-03-05.csv", [ORDERS_HEADER] + [order(i) for i in range(10)])
    report = load_files([big], database_url=db_url)
    assert report.files == []
    assert report.skipped == [f"{big}: not loaded: is {big.stat().st_size:,} bytes, more than the 100 allowed"]


def test_an_empty_file_and_a_file_without_its_header_get_a_plain_message(project_env, db_url, tmp_path, capsys):
    empty_csv = tmp_path / "orders_2026-03-05.csv"
    empty_csv.write_bytes(b"")
    empty_jsonl = tmp_path / "attestations_2026-03-05.jsonl"
    empty_jsonl.write_bytes(b"")
    headless = write(tmp_path / "shipments_2026-03-05.csv",
                     ["O1,B0001,2026-03-04T10:00:00+08:00,2026-03-04T12:00:00+08:00,,SF,WH-1"])
    assert main(["load", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert (f"{empty_csv}: the file is empty; every orders file starts with the header line {ORDERS_HEADER}"
            in out)
    # An empty JSON Lines file is a day without events: loaded, with no rows (it keeps the feed fresh).
    assert "the file is empty; every attestations" not in out
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select status, rows_in_file from raw.evidence_loads where file_path = %s", (str(empty_jsonl),))
        assert cur.fetchall() == [("loaded", 0)]
    assert (f"{headless}: line 1 is not the header: every shipments file starts with the header line "
            f"{SHIPMENTS_HEADER} (columns in any order); this file starts with 'O1,B0001" in out)
    assert "Traceback" not in out


def test_load_lists_the_first_20_quarantined_rows_then_the_query_for_the_rest(project_env, db_url, tmp_path,
                                                                             capsys):
    path = write(tmp_path / "orders_2026-03-05.csv",
                 [ORDERS_HEADER] + [order(i, brand="B?") for i in range(25)] + [order(99)])
    assert main(["load", str(path)]) == 1  # quarantined rows: bad input, though the good row loads
    out = capsys.readouterr().out
    listed = [line.strip() for line in out.splitlines() if line.strip().startswith(f"{path}:")]
    assert len(listed) == 20
    assert listed[0].startswith(f"{path}:2: brand_id: 'B?' is not an id")
    assert listed[-1].startswith(f"{path}:21: brand_id:")
    load_id = query(db_url, "select load_id from raw.evidence_loads")[0][0]
    sql = (f"select line_no, field, reason, raw_line from raw.evidence_quarantine where load_id in ({load_id}) "
           "order by line_no")
    assert f"... and 5 more; all 25: {sql}" in out
    assert len(query(db_url, sql)) == 25


def test_loading_the_same_file_again_stores_no_second_set_of_quarantined_rows(project_env, db_url, tmp_path,
                                                                             capsys):
    path = write(tmp_path / "orders_2026-03-05.csv",
                 [ORDERS_HEADER, order(1), order(2, brand="B?"), order(3, "2000-01-01T00:00:00+08:00")])
    main(["load", str(path)])
    first = capsys.readouterr().out
    assert "2 quarantined dates" in first and "already" not in first
    main(["load", str(path)])
    second = capsys.readouterr().out
    assert "0 loaded, 1 duplicate, 2 quarantined (2 already quarantined)" in second
    assert f"{path}:3: brand_id: 'B?' is not an id" in second and "(already quarantined by load 1)" in second
    assert query(db_url, "select load_id, line_no from raw.evidence_quarantine order by 2") == [(1, 3), (1, 4)]
    assert query(db_url, "select rows_in_file, rows_loaded, rows_duplicate, rows_quarantined "
                         "from raw.evidence_loads order by load_id") == [(3, 1, 0, 2), (3, 0, 1, 2)]


def test_a_failure_that_is_not_a_lost_connection_is_reported_for_its_file_and_the_batch_goes_on(db_url, tmp_path):
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:  # a manifest row the database refuses, for one feed only
            cur.execute("alter table raw.evidence_loads add constraint no_attestations check (feed <> 'attestations')")
        bad = write(tmp_path / "attestations_2026-03-05.jsonl", [attestation()])
        good = write(tmp_path / "orders_2026-03-05.csv", [ORDERS_HEADER, order(1)])
        report = load_files([bad, good], database_url=db_url)
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("alter table raw.evidence_loads drop constraint if exists no_attestations")
        conn.close()
    assert [(Path(f.file).name, f.rows_loaded) for f in report.files] == [(good.name, 1)]
    [skipped] = report.skipped
    assert skipped.startswith(f"{bad}: not loaded: ") and "no_attestations" in skipped
    assert "lost" not in skipped and "connection" not in skipped
    assert query(db_url, "select count(*) from raw.attestations") == [(0,)]


def test_the_pending_files_of_an_inbox_skip_nothing_silently_and_never_block(db_url, tmp_path):
    inbox = tmp_path / "orders"
    write(inbox / "orders_2026-03-05.csv", [ORDERS_HEADER, order(1)])
    os.mkfifo(inbox / "orders_2026-03-06.csv")
    totals = load_module.load_inbox("orders", database_url=db_url, inbox=inbox, up_to=date(2026, 3, 31))
    assert totals["rows_loaded"] == 1
    assert totals["not_loaded"] == [f"{inbox / 'orders_2026-03-06.csv'}: not loaded: is a named pipe (FIFO), "
                                    "not a regular file; only regular files are read"]


def test_each_days_file_without_rows_is_a_delivery_of_its_own_and_a_renamed_file_with_rows_is_not(
        db_url, tmp_path):
    """A quiet feed sends the same empty file every day (JSONL: no bytes; CSV: the header only).

    Each is recorded as that day's delivery, through the inbox as the evidence DAGs load it, or
    the freshness of the feed would stop at the first one. A file with rows delivered again
    under another name is still recognised as loaded.
    """
    quiet, orders = tmp_path / "attestations", tmp_path / "orders"
    quiet.mkdir()
    for day in (5, 6, 7):
        (quiet / f"attestations_2026-03-0{day}.jsonl").write_bytes(b"")
        write(orders / f"orders_2026-03-0{day}.csv", [ORDERS_HEADER] + ([order(1)] if day != 6 else []))
        for feed, inbox in (("attestations", quiet), ("orders", orders)):
            load_module.load_inbox(feed, database_url=db_url, inbox=inbox, up_to=date(2026, 3, 31))
    assert query(db_url, """select regexp_replace(file_path, '^.*/', ''), status, rows_in_file, rows_loaded
                              from raw.evidence_loads order by load_id""") == [
        ("attestations_2026-03-05.jsonl", "loaded", 0, 0), ("orders_2026-03-05.csv", "loaded", 1, 1),
        ("attestations_2026-03-06.jsonl", "loaded", 0, 0), ("orders_2026-03-06.csv", "loaded", 0, 0),
        ("attestations_2026-03-07.jsonl", "loaded", 0, 0)]  # orders_2026-03-07.csv: the 5th's rows again
    assert query(db_url, "select count(*) from raw.orders") == [(1,)]


@pytest.mark.parametrize("name, header, row", [
    ("orders_2026-03-05.csv", ORDERS_HEADER, order(1)),
    ("attestations_2026-03-05.jsonl", None, attestation()),
])
def test_a_line_longer_than_the_bound_is_quarantined_unread(db_url, tmp_path, name, header, row):
    from partnerops.evidence.validate import MAX_LINE_BYTES

    path = tmp_path / name
    with path.open("w", encoding="utf-8") as f:
        f.write(f"{header}\n" if header else "")
        f.write("x" * (3 * MAX_LINE_BYTES + 5) + "\n")
        f.write(row + "\n")
        f.write("y" * (MAX_LINE_BYTES + 10))  # the last line, without a line end
    f = load_files([path], database_url=db_url).files[0]
    first = 2 if header else 1
    assert (f.rows_in_file, f.rows_loaded, f.rows_quarantined) == (3, 1, 2)
    rows = quarantined(db_url)
    assert [line for line, *_ in rows] == [first, first + 2]
    assert all(reason.startswith("the line is longer than 1,048,576 bytes") for *_, reason in rows)


def test_a_month_whose_rows_sit_in_the_default_partition_is_left_there_and_the_rest_is_created(db_url, caplog):
    from partnerops.evidence.load import Window, ensure_partitions

    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("""insert into raw.orders (order_id, brand_id, customer_id, ordered_at, amount, currency,
                               channel, product_lifecycle, business_date, arrived_at, load_id)
                           values ('O1', 'B1', 'C1', '2061-02-03 10:00+08', 1, 'CNY', 'online', 'new', '2061-02-03',
                                   '2061-02-04 00:00+08', 0)""")
            created = ensure_partitions(cur, FEEDS["orders"], Window(date(2061, 1, 1), date(2061, 3, 31), "test"))
            cur.execute("select tableoid::regclass::text from raw.orders where order_id = 'O1'")
            [(holder,)] = cur.fetchall()
            cur.execute("delete from raw.orders where order_id = 'O1'")
    finally:
        conn.close()
    assert created == ["orders_p2061_01", "orders_p2061_03"]
    assert holder == "raw.orders_default"
    assert "raw.orders_p2061_02: partition not created, its rows stay in the DEFAULT partition" in caplog.text

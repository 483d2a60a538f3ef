"""A batch that mixes every kind of bad input with good files, through the command line as a user
runs it: every good row loads, every bad file and row is reported with its file, line, field and
reason, nothing blocks, no traceback, the exit status is 1, and running it all again changes nothing.

The commands run in a subprocess without the capabilities that let root read any file
(`setpriv`), so that a file without read permission is unreadable here as it is for a loader
that does not run as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from db_query import query

REPO_ROOT = Path(__file__).resolve().parents[1].parent
EXAMPLES = REPO_ROOT / "examples" / "agreements"
GOOD_AGREEMENT = EXAMPLES / "lanmei-knit.v1.yaml"
ORDERS_HEADER = "order_id,brand_id,customer_id,ordered_at,amount,currency,channel,product_lifecycle"
SHIPMENTS_HEADER = "order_id,brand_id,paid_at,shipped_at,delivered_at,carrier,warehouse_id"
SETPRIV = shutil.which("setpriv")

pytestmark = pytest.mark.skipif(SETPRIV is None, reason="needs setpriv (util-linux) to drop root's read-anything "
                                                        "capabilities for the unreadable-file case")


def run(*args: str, data_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    """`partnerops ARGS` as a user without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH; a blocked read fails the test."""
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_PARTNEROPS_DB"}
    env.update(PARTNEROPS_DATABASE_URL=url, PARTNEROPS_DATA_DIR=str(data_dir))
    command = [SETPRIV, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search",
               sys.executable, "-m", "partnerops.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=300, env=env)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


COUNTED = ["raw.agreement_versions", "raw.commitments", "raw.quarantined_documents", "raw.quarantine_reasons",
           "raw.orders", "raw.shipments", "raw.attestations", "raw.evidence_quarantine"]


def counts(url: str) -> dict[str, int]:
    return {table: query(url, f"select count(*) from {table}")[0][0] for table in COUNTED}


def order(i: int, at: str = "2026-03-04T10:00:00+08:00", brand: str = "B0042") -> str:
    return f"O{i},{brand},C{i},{at},10.00,CNY,online,new"


def attestation(**fields: object) -> str:
    row = {"agreement_id": "TM-2026-0042", "commitment_id": "c1", "attested_by": "li.na@example.com",
           "attested_at": "2026-03-04T18:00:00+08:00"}
    row.update(fields)
    return json.dumps(row)


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def unreadable(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0)
    return path


def agreements_batch(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    good_text = GOOD_AGREEMENT.read_text("utf-8")
    files = {"good": Path(shutil.copyfile(GOOD_AGREEMENT, folder / "lanmei-knit.v1.yaml"))}
    files["newline_id"] = folder / "newline-id.yaml"
    files["newline_id"].write_text(good_text.replace("agreement_id: TM-2026-0042", 'agreement_id: "TM-2026-0042\\n"'),
                                   encoding="utf-8")
    files["pipe"] = folder / "pipe.yaml"
    os.mkfifo(files["pipe"])
    files["zero"] = folder / "zero.yaml"
    files["zero"].symlink_to("/dev/zero")
    files["locked"] = unreadable(folder / "locked.yaml", good_text)
    files["deep"] = folder / "deep.yaml"
    files["deep"].write_text(good_text.replace("  name: Li Na", "  name: " + "[" * 5000 + "]" * 5000),
                             encoding="utf-8")
    return files


def evidence_batch(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    files = {
        "good_orders": write(folder / "orders_2026-03-05.csv", [ORDERS_HEADER] + [order(i) for i in range(1, 6)]),
        "bad_rows": write(folder / "orders_2026-03-06.csv", [
            ORDERS_HEADER, order(10), order(11, "2026-03-05T10:00:00+15:00"), order(12, "2000-01-15T10:00:00+08:00"),
            order(13, "2030-12-15T10:00:00+08:00"), order(14, "1900-01-01T00:00:00+08:00"),
            order(15, "2999-12-31T00:00:00+08:00"), order(16, brand="B" + "?" * 5000), order(17)]),
        "json_rows": write(folder / "attestations_2026-03-06.jsonl", [
            attestation(), '{"agreement_id":' + "[" * 100_000 + "]" * 100_000 + "}",
            attestation(commitment_id="c2", note="half \ud800 a pair"),
            attestation(commitment_id="c3", agreement_id="TM-2026-0042\n"),
            attestation(commitment_id="c4", note="fine")]),
        "empty": folder / "orders_2026-03-07.csv",
        "headless": write(folder / "shipments_2026-03-07.csv",
                          ["O1,B0042,2026-03-04T10:00:00+08:00,2026-03-04T12:00:00+08:00,,SF,WH-1"]),
        "pipe": folder / "orders_2026-03-08.csv",
        "zero": folder / "orders_2026-03-09.csv",
        "folder": folder / "shipments_2026-03-10.csv",
        "locked": unreadable(folder / "orders_2026-03-11.csv", f"{ORDERS_HEADER}\n{order(40)}\n"),
    }
    files["empty"].write_bytes(b"")
    os.mkfifo(files["pipe"])
    files["zero"].symlink_to("/dev/zero")
    files["in_folder"] = write(files["folder"] / "shipments_2026-03-10.csv", [
        SHIPMENTS_HEADER, "O1,B0042,2026-03-04T10:00:00+08:00,2026-03-04T12:00:00+08:00,,SF,WH-1"])
    return files


def test_a_batch_of_every_bad_input_loads_the_good_reports_the_bad_and_a_rerun_changes_nothing(db_url, tmp_path):
    data = tmp_path / "var"
    agreements = agreements_batch(tmp_path / "agreements")
    evidence = evidence_batch(tmp_path / "evidence")

    # validate: every file gets its verdict, nothing blocks on the pipe or reads /dev/zero forever
    checked = run("validate", str(tmp_path / "agreements"), data_dir=data, url=db_url)
    assert checked.returncode == 1
    out = checked.stdout
    assert f"{agreements['newline_id']}:10: agreement_id: 'TM-2026-0042\\n' is not a valid id" in out
    assert f"{agreements['pipe']}: (document): is a named pipe (FIFO), not a regular file" in out
    assert f"{agreements['zero']}: (document): is a device (a link to /dev/zero), not a regular file" in out
    assert f"{agreements['locked']}: (document): cannot be read: permission denied" in out
    assert f"{agreements['deep']}: (document): the YAML is nested too deeply" in out
    assert "6 file(s) checked: 1 valid, 5 with problems" in out

    # intake: the good agreement is loaded, every bad file quarantined with its reason
    taken = run("intake", str(tmp_path / "agreements"), data_dir=data, url=db_url)
    assert taken.returncode == 1
    assert "loaded      " + str(agreements["good"]) in taken.stdout
    for name in ("newline_id", "pipe", "zero", "locked", "deep"):
        assert f"quarantined {agreements[name]}" in taken.stdout, name
    assert "1 loaded, 0 unchanged, 5 quarantined" in taken.stdout
    assert query(db_url, "select agreement_id from raw.agreement_versions") == [("TM-2026-0042",)]

    # load: the good rows of every file load, every bad row and path is reported
    loaded = run("load", str(tmp_path / "evidence"), data_dir=data, url=db_url)
    assert loaded.returncode == 1
    out = loaded.stdout
    bad_rows, json_rows = evidence["bad_rows"], evidence["json_rows"]
    for line, field, reason in [
        (3, "ordered_at", "'2026-03-05T10:00:00+15:00' has a UTC offset beyond the -14:00..+14:00"),
        (4, "ordered_at", "dated 2000-01-15, outside the plausible dates 2024-12-31..2028-01-01 (the agreements' "
                          "terms 2026-01-01..2026-12-31"),
        (5, "ordered_at", "dated 2030-12-15, outside the plausible dates"),
        (6, "ordered_at", "dated 1900-01-01, outside the plausible dates"),
        (7, "ordered_at", "dated 2999-12-31, outside the plausible dates"),
        (8, "brand_id", f"'B{'?' * 199}'... (5,001 characters) is not an id"),
    ]:
        assert f"{bad_rows}:{line}: {field}: {reason}" in out, (line, out)
    assert f"{json_rows}:2: (line): not a row: the JSON is nested too deeply" in out
    assert f"{json_rows}:3: note: holds the escape \\ud800" in out
    assert f"{json_rows}:4: agreement_id: 'TM-2026-0042\\n' is not an id" in out
    assert f"{evidence['empty']}: the file is empty" in out
    assert f"{evidence['headless']}: line 1 is not the header" in out
    assert f"skipped   {evidence['pipe']}: not loaded: is a named pipe (FIFO)" in out
    assert f"skipped   {evidence['zero']}: not loaded: is a device (a link to /dev/zero)" in out
    assert f"skipped   {evidence['folder']}: not loaded: is a folder named like a feed file" in out
    assert f"skipped   {evidence['locked']}: not loaded: cannot be read: permission denied" in out
    assert query(db_url, "select order_id from raw.orders order by 1") == [
        ("O1",), ("O10",), ("O17",), ("O2",), ("O3",), ("O4",), ("O5",)]
    assert query(db_url, "select commitment_id from raw.attestations order by 1") == [("c1",), ("c4",)]
    assert query(db_url, "select order_id from raw.shipments") == [("O1",)]  # the file inside the folder
    stored = query(db_url, """select q.file_path, q.line_no, q.field from raw.evidence_quarantine q
                               order by 1, 2""")
    assert stored == [(str(json_rows), 2, None), (str(json_rows), 3, "note"), (str(json_rows), 4, "agreement_id"),
                      (str(bad_rows), 3, "ordered_at"), (str(bad_rows), 4, "ordered_at"),
                      (str(bad_rows), 5, "ordered_at"), (str(bad_rows), 6, "ordered_at"),
                      (str(bad_rows), 7, "ordered_at"), (str(bad_rows), 8, "brand_id")]
    assert all(len(reason) < 450 for (reason,) in query(db_url, "select reason from raw.evidence_quarantine"))
    # no partition for the implausible months
    assert query(db_url, """select count(*) from pg_class where relname in
                              ('orders_p2000_01', 'orders_p2030_12', 'orders_p1900_01', 'orders_p2999_12')""") == [(0,)]

    # a second run changes nothing, and says the bad rows are already quarantined
    before = counts(db_url)
    again = run("intake", str(tmp_path / "agreements"), data_dir=data, url=db_url)
    assert again.returncode == 1 and "0 loaded, 1 unchanged, 5 quarantined" in again.stdout
    reloaded = run("load", str(tmp_path / "evidence"), data_dir=data, url=db_url)
    assert reloaded.returncode == 1
    assert f"{bad_rows}: 8 rows, 0 loaded, 2 duplicate, 6 quarantined (6 already quarantined)" in reloaded.stdout
    assert f"{bad_rows}:3: ordered_at: " in reloaded.stdout and "(already quarantined by load" in reloaded.stdout
    assert counts(db_url) == before

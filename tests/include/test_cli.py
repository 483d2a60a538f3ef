"""The `partnerops` command as a user runs it: plain messages and exit codes, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "agreements"
GOOD = (EXAMPLES / "lanmei-knit.v1.yaml").read_text("utf-8")


def run(*args: str, env: dict[str, str] | None = None, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`partnerops ARGS` in a subprocess, with its runtime data under `tmp`."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("PARTNEROPS_DATABASE_URL", "AIRFLOW_CONN_PARTNEROPS_DB")}
    base["PARTNEROPS_DATA_DIR"] = str(tmp / "var")
    return subprocess.run(
        [sys.executable, "-m", "partnerops.cli", *args],
        capture_output=True, text=True, encoding="utf-8", timeout=120, env={**base, **(env or {})},
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr, result.stdout + result.stderr


def edit(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


BAD_FILES = {
    "malformed.yaml": (edit("  name: Li Na\n", "  name: [Li Na\n"), "not valid YAML"),
    "wrong-type.yaml": (edit("\nversion: 1\n", "\nversion: first\n"), "version: must be an integer"),
    "missing-field.yaml": (edit("signed_date: 2025-12-12\n", ""),
                           "signed_date: the required field 'signed_date' is missing"),
    "unknown-pillar.yaml": (edit("    pillar: logistics", "    pillar: finance"),
                            "commitments[3].pillar: unknown pillar 'finance'"),
    "due-outside-term.yaml": (edit("    due: 2026-09-01", "    due: 2027-09-01"),
                              "commitments[2].due: the due date 2027-09-01 is outside the term"),
    "duplicate-key.yaml": (edit("\nversion: 1\n", "\nversion: 1\nversion: 1\n"), "the field 'version' appears twice"),
    "list-key.yaml": (edit("\nversion: 1\n", "\nversion: 1\n? [a]\n: b\n"), "a field name must be a plain word"),
    "zone-folder.yaml": (edit("\nversion: 1\n", "\nversion: 1\ntimezone: Asia\n"), "unknown time zone 'Asia'"),
    "nan.yaml": (edit("amount: 18500000.50", "amount: .nan"), "gmv_target.amount: must be a finite number"),
    "empty.yaml": ("", "the file is empty"),
}


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bad"
    folder.mkdir()
    for name, (text, _) in BAD_FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "latin1.yaml").write_bytes("format_version: 1\nbrand: {id: B1, name: Café}\n".encode("latin-1"))
    return folder


def test_validate_bad_files_exits_1_with_one_line_per_problem(bad_dir: Path, tmp_path: Path) -> None:
    result = run("validate", str(bad_dir), tmp=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for name, (_, words) in BAD_FILES.items():
        mine = [line for line in lines if line.startswith(f"{bad_dir / name}")]
        assert mine, f"no problem printed for {name}"
        assert any(words in line for line in mine), (name, mine)
    assert any(line.startswith(f"{bad_dir / 'latin1.yaml'}: (document): the file is not UTF-8 text") for line in lines)
    # file:line: field: message, with the line where YAML has one
    assert f"{bad_dir / 'wrong-type.yaml'}:11: version: must be an integer, found text 'first'" in lines
    assert lines[-1].startswith(f"{len(BAD_FILES) + 1} file(s) checked: 0 valid, {len(BAD_FILES) + 1} with problems")
    assert result.stderr == ""


def test_validate_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = run("validate", str(missing), tmp=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    assert f"{missing}: (document): no such file or folder" in result.stdout.splitlines()


def test_validate_good_files_exits_0(tmp_path: Path) -> None:
    result = run("validate", str(EXAMPLES), tmp=tmp_path)
    no_traceback(result)
    assert result.returncode == 0, result.stdout
    count = len(list(EXAMPLES.glob("*.yaml")))
    assert result.stdout.splitlines() == [f"{count} file(s) checked: {count} valid, 0 with problems"]


def test_validate_a_mixed_batch_reports_both(bad_dir: Path, tmp_path: Path) -> None:
    result = run("validate", str(EXAMPLES / "lanmei-knit.v1.yaml"), str(bad_dir / "nan.yaml"), tmp=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "2 file(s) checked: 1 valid, 1 with problems (1 problem(s))"


def test_validate_without_a_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run("validate", tmp=tmp_path)
    no_traceback(result)
    assert result.returncode == 2
    assert "PATH" in result.stderr


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://nobody@127.0.0.1:1/partnerops", "cannot connect to PostgreSQL at postgresql://nobody@127.0.0.1:1"),
        ("not a url", "is not valid"),
        ("postgres://nobody@127.0.0.1:1/partnerops", "cannot connect to PostgreSQL"),
    ],
    ids=["unreachable", "not a URL", "wrong scheme"],
)
@pytest.mark.parametrize("command", [["intake", str(EXAMPLES)], ["db", "upgrade"]], ids=["intake", "db upgrade"])
def test_a_bad_database_url_is_a_plain_error(command: list[str], url: str, words: str, tmp_path: Path) -> None:
    result = run(*command, env={"PARTNEROPS_DATABASE_URL": url}, tmp=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    assert result.stderr.startswith("error: "), result.stderr
    assert words in result.stderr
    assert "PARTNEROPS_DATABASE_URL" in result.stderr  # says how to fix it


def test_the_password_in_a_bad_url_is_not_printed(tmp_path: Path) -> None:
    result = run("intake", str(EXAMPLES), env={"PARTNEROPS_DATABASE_URL": "postgresql://ops:s3cret@127.0.0.1:1/x"},
                 tmp=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    assert "s3cret" not in result.stdout + result.stderr


def test_archive_lists_the_months_past_retention(db_url: str, tmp_path: Path) -> None:
    """`partnerops archive --dry-run`: a month is due the day after its quarter's end + the margin,
    and never before its windows freeze (45 days after the quarter); a bad margin is a plain error."""
    from datetime import date

    import psycopg2

    from partnerops.evidence.load import FEEDS, Window, ensure_partitions

    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        ensure_partitions(cur, FEEDS["orders"], Window(date(2026, 1, 1), date(2026, 1, 31), "test"))
        cur.execute("""insert into raw.orders (order_id, brand_id, customer_id, ordered_at, amount, currency, channel,
                                               product_lifecycle, business_date, arrived_at, load_id)
                       values ('O1', 'B0001', 'C1', '2026-01-05 10:00+08', 100, 'CNY', 'online', 'in_season',
                               '2026-01-05', '2026-01-06 08:00+08', 0)""")
    conn.close()

    def archive(today: str, margin: str) -> subprocess.CompletedProcess[str]:
        result = run("archive", "--dry-run", "--today", today, tmp=tmp_path,
                     env={"PARTNEROPS_DATABASE_URL": db_url, "PARTNEROPS_RETENTION_MARGIN_DAYS": margin})
        no_traceback(result)
        return result

    assert archive("2026-06-29", "90").stdout == "nothing to archive (margin 90 days)\n"
    due = archive("2026-06-30", "90")
    assert due.returncode == 0
    assert due.stdout == "due       orders_p2026_01 (raw.orders, 2026-01, kept until 2026-06-29)\n"
    assert archive("2026-05-15", "30").stdout == "nothing to archive (margin 30 days)\n"
    assert "kept until 2026-05-15" in archive("2026-05-16", "30").stdout
    assert archive("2026-06-30", "off").stdout.startswith("retention is off")
    bad = archive("2026-06-30", "-3")
    assert bad.returncode != 0 and "PARTNEROPS_RETENTION_MARGIN_DAYS" in bad.stderr
    # a dry run archives nothing
    check = psycopg2.connect(db_url)
    with check, check.cursor() as cur:
        cur.execute("select count(*) from raw.orders_p2026_01")
        assert cur.fetchone()[0] == 1
    check.close()

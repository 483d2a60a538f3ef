"""Intake on the real PostgreSQL: loaded, unchanged or quarantined, versions kept, nothing twice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg2
import pytest
from db_query import query

from partnerops.intake import run_intake
from partnerops.registry import read_registry
from partnerops.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "agreements"
V1, V2 = EXAMPLES / "feichi-sport.v1.yaml", EXAMPLES / "feichi-sport.v2.yaml"
SMALL = EXAMPLES / "lanmei-knit.v1.yaml"
HOSTILE_NAME = "Robert'); DROP TABLE raw.commitments;-- <script>alert(1)</script> & \"大卫\" \\ 100%"


def table_counts(url: str) -> dict[str, int]:
    tables = ["agreement_versions", "commitments", "quarantined_documents", "quarantine_reasons"]
    return {t: query(url, f"select count(*) from raw.{t}")[0][0] for t in tables}


def copy(src: Path, folder: Path, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(src, folder / (name or src.name)))


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def variant(src: Path, old: str, new: str) -> str:
    text = src.read_text("utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return tmp_path / "inbox"


def test_a_mixed_batch_loads_the_good_and_quarantines_the_bad(project_env: Path, db_url: str, inbox: Path) -> None:
    good = [copy(f, inbox) for f in sorted(EXAMPLES.glob("*.v1.yaml"))]
    bad = {
        write(inbox, "bad-malformed.yaml", "format_version: 1\nbrand: {id: B1\n"): ("", "not valid YAML"),
        write(inbox, "bad-pillar.yaml", variant(SMALL, "    pillar: logistics", "    pillar: finance")):
            ("commitments[3].pillar", "unknown pillar 'finance'"),
        write(inbox, "bad-depends.yaml", variant(V1, "depends_on: launch-slot", "depends_on: launch-slots")):
            ("commitments[1].depends_on", "no commitment in this agreement has that id"),
    }
    report = run_intake([inbox], database_url=db_url, triggered_by="test")

    assert report.counts == {"loaded": len(good), "unchanged": 0, "quarantined": len(bad)}
    assert sum(report.counts.values()) == len(good) + len(bad) == len(report.files)
    assert {f.file for f in report.files if f.outcome == "loaded"} == {str(p) for p in good}
    # the good files are in, with all their commitments
    loaded = query(db_url, "select agreement_id, version, is_current from raw.agreement_versions order by 1")
    assert loaded == [("TM-2026-0001", 1, True), ("TM-2026-0042", 1, True), ("TM-2026-0107", 1, True),
                      ("TM-2026-0108", 1, True)]
    expected_commitments = sum(f.read_text("utf-8").count("\n  - id: ") for f in good)
    assert table_counts(db_url)["commitments"] == expected_commitments
    # each bad file: its reasons in the database, a copy and a note set aside
    quarantine = get_settings().quarantine_dir
    assert quarantine.is_relative_to(project_env)
    for path, (field, words) in bad.items():
        rows = query(db_url, """select r.field_path, r.line_no, r.message, d.set_aside_path
                                  from raw.quarantined_documents d join raw.quarantine_reasons r using (content_hash)
                                 where d.source_file = %s""", (str(path),))
        assert any(f == field and words in m for f, _, m, _ in rows), rows
        set_aside = Path(rows[0][3])
        assert set_aside.parent == quarantine
        assert set_aside.read_bytes() == path.read_bytes()
        assert words in set_aside.with_name(set_aside.name + ".reasons.txt").read_text("utf-8")
    # the run's ledger adds up
    run_row = query(db_url, """select files_loaded, files_unchanged, files_quarantined, finished_at is not null
                                 from raw.intake_runs where intake_run_id = %s""", (report.intake_run_id,))
    assert run_row == [(len(good), 0, len(bad), True)]
    assert query(db_url, "select count(*) from raw.intake_files where intake_run_id = %s",
                 (report.intake_run_id,)) == [(len(good) + len(bad),)]


def test_running_the_same_intake_again_changes_nothing(project_env: Path, db_url: str, inbox: Path) -> None:
    for f in EXAMPLES.glob("*.yaml"):
        copy(f, inbox)
    write(inbox, "bad.yaml", variant(SMALL, "    kind: quota", "    kind: sometimes"))
    first = run_intake([inbox], database_url=db_url)
    counts = table_counts(db_url)
    set_aside = sorted(p.name for p in get_settings().quarantine_dir.iterdir())

    second = run_intake([inbox], database_url=db_url)
    assert first.counts == {"loaded": 5, "unchanged": 0, "quarantined": 1}
    assert second.counts == {"loaded": 0, "unchanged": 5, "quarantined": 1}
    assert second.changed_agreements == []
    assert table_counts(db_url) == counts
    assert sorted(p.name for p in get_settings().quarantine_dir.iterdir()) == set_aside
    assert second.intake_run_id != first.intake_run_id
    assert query(db_url, "select count(distinct intake_run_id) from raw.intake_files") == [(2,)]


def commitment_due(url: str, version: int, commitment_id: str = "spring-launch") -> date:
    return query(url, """select due_date from raw.commitments
                          where agreement_id = 'TM-2026-0001' and version = %s and commitment_id = %s""",
                 (version, commitment_id))[0][0]


def versions(url: str) -> list[tuple]:
    return query(url, """select version, is_current, amendment_note is not null from raw.agreement_versions
                          where agreement_id = 'TM-2026-0001' order by version""")


def test_an_amendment_becomes_current_and_version_1_stays_queryable(project_env: Path, db_url: str,
                                                                     inbox: Path) -> None:
    run_intake([copy(V1, inbox)], database_url=db_url)
    assert versions(db_url) == [(1, True, False)]
    report = run_intake([copy(V2, inbox)], database_url=db_url)

    assert [(f.outcome, f.agreement_id, f.version) for f in report.files] == [("loaded", "TM-2026-0001", 2)]
    assert versions(db_url) == [(1, False, False), (2, True, True)]
    assert commitment_due(db_url, 1) == date(2026, 3, 1)
    assert commitment_due(db_url, 2) == date(2026, 3, 15)
    assert commitment_due(db_url, 1, "launch-slot") == date(2026, 2, 13)
    assert commitment_due(db_url, 2, "launch-slot") == date(2026, 2, 27)
    # version 1 takes effect when signed (the default), the amendment on its effective_from
    assert query(db_url, """select version, signed_date, effective_from from raw.agreement_versions
                             where agreement_id = 'TM-2026-0001' order by version""") == [
        (1, date(2025, 12, 5), date(2025, 12, 5)), (2, date(2026, 1, 20), date(2026, 1, 15))]
    [entry] = read_registry(get_settings().registry_path)
    assert entry["version"] == 2
    assert {c["id"]: c["due"] for c in entry["commitments"]}["spring-launch"] == "2026-03-15"


def test_an_amendment_that_arrives_first_stays_current(project_env: Path, db_url: str, inbox: Path) -> None:
    run_intake([copy(V2, inbox / "early")], database_url=db_url)
    report = run_intake([copy(V1, inbox / "late")], database_url=db_url)
    assert report.counts["loaded"] == 1
    assert versions(db_url) == [(1, False, False), (2, True, True)]
    assert [e["version"] for e in read_registry(get_settings().registry_path)] == [2]


def test_both_versions_in_one_batch(project_env: Path, db_url: str, inbox: Path) -> None:
    # named so that version 2 sorts (and is taken in) first
    copy(V2, inbox, "a-amendment.yaml")
    copy(V1, inbox, "b-original.yaml")
    report = run_intake([inbox], database_url=db_url)
    assert report.counts == {"loaded": 2, "unchanged": 0, "quarantined": 0}
    assert versions(db_url) == [(1, False, False), (2, True, True)]


def test_the_same_version_with_different_content_is_quarantined(project_env: Path, db_url: str,
                                                                 inbox: Path) -> None:
    run_intake([copy(V1, inbox)], database_url=db_url)
    before = query(db_url, "select content_hash, title from raw.agreement_versions")
    changed = write(inbox, "feichi-sport.v1-edited.yaml",
                    variant(V1, "    due: 2026-03-01\n", "    due: 2026-03-20\n"))
    report = run_intake([changed], database_url=db_url)

    [outcome] = report.files
    assert outcome.outcome == "quarantined"
    [problem] = outcome.problems
    assert problem.field == "version"
    assert "version 1 of agreement TM-2026-0001 is already loaded with different content" in problem.message
    assert "next version number" in problem.message
    assert query(db_url, "select content_hash, title from raw.agreement_versions") == before
    assert commitment_due(db_url, 1) == date(2026, 3, 1)
    reasons = query(db_url, "select field_path, message from raw.quarantine_reasons")
    assert reasons == [("version", problem.message)]


def run_cli(*args: str, data_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_PARTNEROPS_DB"}
    env.update(PARTNEROPS_DATABASE_URL=url, PARTNEROPS_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "partnerops.cli", *args], capture_output=True, text=True,
                          encoding="utf-8", timeout=300, env=env)


def test_a_brand_name_with_sql_and_html_is_plain_text_everywhere(project_env: Path, db_url: str,
                                                                 inbox: Path) -> None:
    quoted = json.dumps(HOSTILE_NAME, ensure_ascii=False)  # a YAML double-quoted string
    path = write(inbox, "hostile.yaml", variant(SMALL, "  name: Lanmei Knit Studio\ngroup:",
                                                f"  name: {quoted}\ngroup:"))
    result = run_cli("intake", str(path), data_dir=project_env, url=db_url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    loaded_line = next(line for line in result.stdout.splitlines() if line.startswith("loaded"))
    assert loaded_line == f"loaded      {path} TM-2026-0042 v1 ({HOSTILE_NAME})"
    # stored byte for byte, in the column and in the stored document; the table it names still exists
    assert query(db_url, "select brand_name, document->'brand'->>'name' from raw.agreement_versions") == [
        (HOSTILE_NAME, HOSTILE_NAME)]
    assert query(db_url, "select count(*) from raw.commitments")[0][0] == 5
    # the registry snapshot carries it unchanged (JSON-escaped only where JSON requires it)
    registry = get_settings().registry_path
    [entry] = read_registry(registry)
    assert entry["brand"]["name"] == HOSTILE_NAME
    assert "<script>alert(1)</script>" in registry.read_text("utf-8")
    assert "&lt;" not in registry.read_text("utf-8")


def test_the_registry_lists_exactly_the_current_agreements(project_env: Path, db_url: str, inbox: Path) -> None:
    for f in EXAMPLES.glob("*.yaml"):
        copy(f, inbox)
    report = run_intake([inbox], database_url=db_url)
    registry = get_settings().registry_path
    assert report.registry_path == registry and report.registry_changed

    current = query(db_url, "select agreement_id, version from raw.agreement_versions where is_current order by 1")
    entries = read_registry(registry)
    assert [(e["agreement_id"], e["version"]) for e in entries] == current
    assert len(current) == 4 and ("TM-2026-0001", 2) in current
    by_id = {e["agreement_id"]: e for e in entries}
    assert by_id["TM-2026-0107"]["group"] == by_id["TM-2026-0108"]["group"] == {
        "id": "G0107", "name": "江南服饰集团 Jiangnan Apparel Group"}
    assert [c["id"] for c in by_id["TM-2026-0042"]["commitments"]] == [
        "monthly-data-report", "traffic-campaigns", "autumn-launch", "ship-within-48h", "weekly-listing-check"]


def test_the_registry_is_not_rewritten_when_nothing_changed(project_env: Path, db_url: str, inbox: Path) -> None:
    copy(SMALL, inbox)
    run_intake([inbox], database_url=db_url)
    registry = get_settings().registry_path
    stamp, body = registry.stat().st_mtime_ns, registry.read_bytes()
    os.utime(registry, ns=(stamp - 10**9, stamp - 10**9))  # an older mtime, so any rewrite would show
    stamp = registry.stat().st_mtime_ns

    again = run_intake([inbox], database_url=db_url)
    assert not again.registry_changed
    assert registry.stat().st_mtime_ns == stamp and registry.read_bytes() == body

    copy(V1, inbox)
    changed = run_intake([inbox], database_url=db_url)
    assert changed.registry_changed and registry.stat().st_mtime_ns != stamp
    assert [e["agreement_id"] for e in read_registry(registry)] == ["TM-2026-0001", "TM-2026-0042"]


def test_a_document_the_database_refuses_is_quarantined_and_the_batch_goes_on(
    project_env: Path, db_url: str, inbox: Path
) -> None:
    # A rule only the database knows (as a future column limit would be): validation passes, the insert fails.
    refused_brand = _brand_id(SMALL)
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("alter table raw.agreement_versions add constraint no_knitwear check (brand_id <> %s)",
                        (refused_brand,))
        copy(V1, inbox)
        copy(SMALL, inbox)
        report = run_intake([inbox], database_url=db_url)
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("alter table raw.agreement_versions drop constraint if exists no_knitwear")
        conn.close()
    outcomes = {Path(f.file).name: f for f in report.files}
    assert outcomes[V1.name].outcome == "loaded"
    refused = outcomes[SMALL.name]
    assert refused.outcome == "quarantined"
    assert "the database refused this document" in refused.problems[0].message
    assert "no_knitwear" in refused.problems[0].message
    assert query(db_url, "select count(*) from raw.agreement_versions where brand_id = %s", (refused_brand,)) == [(0,)]
    assert query(db_url, "select count(*) from raw.commitments where agreement_id = "
                 "(select agreement_id from raw.agreement_versions limit 1)")[0][0] > 0


def _brand_id(path: Path) -> str:
    import yaml

    return yaml.safe_load(path.read_text("utf-8"))["brand"]["id"]


def test_a_pipe_a_device_and_a_folder_in_the_inbox_are_quarantined_and_never_block(project_env: Path, db_url: str,
                                                                                  inbox: Path) -> None:
    copy(SMALL, inbox)
    os.mkfifo(inbox / "pipe.yaml")
    (inbox / "zero.yaml").symlink_to("/dev/zero")
    (inbox / "missing.yaml").symlink_to(inbox / "gone.yaml")
    report = run_intake([inbox], database_url=db_url)
    outcomes = {Path(f.file).name: f for f in report.files}
    assert outcomes[SMALL.name].outcome == "loaded"
    for name, reason in [("pipe.yaml", "is a named pipe (FIFO), not a regular file"),
                         ("zero.yaml", "is a device (a link to /dev/zero), not a regular file"),
                         ("missing.yaml", f"is a link to {inbox / 'gone.yaml'}, which does not exist")]:
        assert outcomes[name].outcome == "quarantined"
        assert outcomes[name].problems[0].message.startswith(reason), outcomes[name].problems
    before = table_counts(db_url)
    again = run_intake([inbox], database_url=db_url)
    assert again.counts == {"loaded": 0, "unchanged": 1, "quarantined": 3}
    assert table_counts(db_url) == before
    assert not list(get_settings().quarantine_dir.glob("*pipe*"))  # nothing to set aside from a pipe

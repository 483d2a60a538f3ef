"""The pieces of `partnerops bench-year` that decide what is simulated and loaded when."""

from datetime import date

from partnerops.year_bench import StepFigures, YearResult, chunks, files_delivered, render_table


def test_chunks_cover_the_range_once_in_order():
    got = chunks(date(2026, 1, 1), date(2026, 1, 16), 7)
    assert got == [(date(2026, 1, 1), date(2026, 1, 7)), (date(2026, 1, 8), date(2026, 1, 14)),
                   (date(2026, 1, 15), date(2026, 1, 16))]
    assert chunks(date(2026, 1, 1), date(2026, 1, 1), 7) == [(date(2026, 1, 1), date(2026, 1, 1))]


def test_files_delivered_by_a_date_only(tmp_path):
    feed = tmp_path / "orders"
    feed.mkdir()
    names = ["orders_2026-01-02.from-2026-01-01.csv", "orders_2026-01-03.from-2026-01-01.csv",
             "orders_2026-01-03.from-2026-01-02.csv", "orders_2026-01-04.from-2026-01-03.csv"]
    for name in names:
        (feed / name).write_text("x\n")
    (feed / "notes.txt").write_text("not a feed file\n")
    got = [p.name for p in files_delivered(tmp_path, date(2026, 1, 3))]
    assert got == names[:3]
    assert files_delivered(tmp_path / "missing", date(2026, 1, 3)) == []


def test_the_table_gives_each_step_and_the_database_at_its_largest():
    load = StepFigures("load")
    load.add(10.0, 1_000_000)
    load.add(30.0, 3_000_000)
    load.peak_rss_kib = 2**19
    build = StepFigures("daily build")
    build.add(86.9)
    result = YearResult({"load": load, "daily build": build, "archive": StepFigures("archive")}, days=365,
                        wall_seconds=9540.0, database_bytes=39 * 2**30, max_database_bytes=41 * 2**30,
                        max_database_on=date(2026, 12, 29), archived_rows=5, archive_bytes=2**30, evidence_rows=10)
    lines = render_table(result).splitlines()
    assert "| load | 2 | 0m40s | 4,000,000 | 100,000 | 0.50 GB | 20.0 s / 30.0 s |" in lines
    assert "| daily build | 1 | 1m26s | 0 |  |  |  |" in lines
    assert not any(line.startswith("| archive |") for line in lines)  # a step that never ran
    assert lines[-1].startswith("Database: 39.0 GB at the end, at most 41.0 GB (after the deliveries of 2026-12-29); ")

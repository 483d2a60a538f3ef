"""The pieces of `partnerops bench-year` that decide what is simulated and loaded when."""

from datetime import date

from partnerops.year_bench import chunks, files_delivered


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

"""Hostile evidence files (hypothesis): every line is a good row or a located bad line, never an exception.

`FileRows` is what the loader runs over a delivered CSV or JSON Lines file before COPY. For
any bytes it must finish, and account for every line: each line of the file is either in
the COPY stream (with its line number) or reported to `on_bad` with its line number and a
reason. A good row must also be good by `check_value`, field by field, whichever path
(the fast pattern or the field-by-field check) took it.

The number of examples is bounded by the hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import csv
import io
import json

from hypothesis import example, given
from hypothesis import strategies as st

from partnerops.evidence.feeds import FEED_NAMES, FEEDS, Feed
from partnerops.evidence.validate import BadLine, FileRows, check_value

#: Field values near the edges of each kind, and arbitrary text.
AWKWARD = st.sampled_from([
    "", " ", '"', '""', ",", "\r", "\x00", "\ufeff", "\u2028", "é", "𝔘", "\udcff", "-1", "1e3", "NaN", "Infinity",
    "0.005", "999999999999.99", "1000000000000", "2026-02-29", "2026-13-01", "2026-03-04T10:00:00",
    "2026-03-04T10:00:00+14:00", "2026-03-04T10:00:00+14:01", "2026-03-04T24:00:00Z", "0999-01-01T00:00:00Z",
    "CNY", "cny", "x" * 2001, "online", "ONLINE", "a b", "a/b:c@d+e",
])
FIELD = AWKWARD | st.text(max_size=30)


def run(feed: Feed, fmt: str, data: bytes) -> tuple[FileRows, list[bytes], list[BadLine]]:
    bad: list[BadLine] = []
    rows = FileRows(feed, io.BytesIO(data), fmt, bad.append)
    good = list(rows.copy_lines())
    return rows, good, bad


def assert_every_line_accounted_for(feed: Feed, fmt: str, data: bytes) -> None:
    rows, good, bad = run(feed, fmt, data)
    good_numbers = [int(line.split(b",", 1)[0]) for line in good]
    bad_numbers = [b.line_no for b in bad]
    assert all(b.reason.strip() for b in bad)
    assert rows.rows_bad == len(bad) and rows.rows_in_file == len(good) + len(bad)
    first = 2 if fmt == "csv" else 1  # a CSV file's line 1 is its header
    assert sorted(good_numbers + bad_numbers) == list(range(first, first + rows.rows_in_file))
    if rows.rejected:
        assert good == []
    for line in good:  # each COPY line: the line number, then a value per staging column that check_value takes
        fields = next(csv.reader([line.decode("utf-8").removesuffix("\n")], strict=True))
        assert len(fields) == len(rows.staging_columns) + 1
        for name, value in zip(rows.staging_columns, fields[1:], strict=True):
            check_value(feed.column(name), value or None)


def _csv_line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[Feed, bytes]:
    """A feed's header (in any order, sometimes damaged), then rows mixing examples and hostile values."""
    feed = FEEDS[draw(st.sampled_from(FEED_NAMES))]
    header = list(draw(st.permutations(feed.column_names)))
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.lists(FIELD, max_size=4)) + header[1:]
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.text(max_size=60)))
            continue
        values = [feed.column(name).example if name in feed.column_names else "" for name in header]
        for i in draw(st.lists(st.integers(0, len(values) - 1), max_size=3)):
            values[i] = draw(FIELD)
        lines.append(_csv_line(values))
    ending = draw(st.sampled_from(["\n", "\r\n", ""]))
    text = ending.join(lines) + draw(st.sampled_from(["", "\n"]))
    return feed, text.encode("utf-8", "surrogatepass")


@st.composite
def jsonl_files(draw: st.DrawFn) -> tuple[Feed, bytes]:
    """Rows built from the examples with fields replaced, removed or added, and broken lines."""
    feed = FEEDS[draw(st.sampled_from(FEED_NAMES))]
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.binary(max_size=60)))
            continue
        row: dict = {c.name: c.example for c in feed.columns}
        for name in draw(st.lists(st.sampled_from([*feed.column_names, "extra"]), max_size=3)):
            row[name] = draw(FIELD | st.none() | st.integers() | st.floats() | st.booleans()
                             | st.lists(st.integers(), max_size=2))
        lines.append(json.dumps(row, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass"))
    return feed, b"\n".join(lines)


@given(csv_files())
def test_csv_files(file: tuple[Feed, bytes]) -> None:
    feed, data = file
    assert_every_line_accounted_for(feed, "csv", data)


@given(jsonl_files())
def test_jsonl_files(file: tuple[Feed, bytes]) -> None:
    feed, data = file
    assert_every_line_accounted_for(feed, "jsonl", data)


@given(st.sampled_from(FEED_NAMES), st.sampled_from(["csv", "jsonl"]), st.binary(max_size=1000))
@example("orders", "csv", b"\xef\xbb\xbforder_id\n\x00")
@example("orders", "jsonl", b"[" * 5000)
def test_any_bytes(feed: str, fmt: str, data: bytes) -> None:
    assert_every_line_accounted_for(FEEDS[feed], fmt, data)


def test_the_examples_alone_are_good_rows() -> None:
    """The generated files start from good rows, so the good path is exercised too."""
    for feed in FEEDS.values():
        line = _csv_line([c.example for c in feed.columns]).encode()
        _, good, bad = run(feed, "csv", b",".join(n.encode() for n in feed.column_names) + b"\n" + line)
        assert (len(good), bad) == (1, []), (feed.name, bad)


def test_an_offset_a_little_beyond_fourteen_hours_is_refused_on_the_fast_path_too() -> None:
    """Found by `test_csv_files`: the fast pattern took +14:01..+14:59, which `check_value` refuses."""
    feed = FEEDS["orders"]
    row = {c.name: c.example for c in feed.columns}
    lines = [",".join(feed.column_names)]
    for offset in ("+14:00", "+14:30", "-14:59", "+13:45"):
        row["ordered_at"] = "2026-03-04T10:00:00" + offset
        lines.append(_csv_line(list(row.values())))
    _, good, bad = run(feed, "csv", "\n".join(lines).encode())
    assert [int(line.split(b",", 1)[0]) for line in good] == [2, 5]
    assert [(b.line_no, b.field) for b in bad] == [(3, "ordered_at"), (4, "ordered_at")]
    assert "beyond the -14:00..+14:00" in bad[0].reason

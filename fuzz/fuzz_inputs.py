"""Coverage-guided fuzzing (atheris) of the two doors hostile input comes through.

One input = a selector byte, a feed byte, then a file:

- selector 0: an agreement document (YAML) through `agreements.validate.check_bytes`, the
  check intake and `partnerops agreements check` run;
- selector 1 / 2: an evidence file through `evidence.validate.FileRows` as CSV / JSON Lines,
  the row validation the loader runs before COPY (the feed chosen by the second byte).

A run fails (a "crash") on any exception, and on an answer that breaks the contract the
property tests check: an agreement or located problems; every line of a feed file a good
row or a bad line with its reason. The seed corpus is the example agreements and one good
file per feed and format. `make fuzz` runs it (FUZZ_SECONDS, default 300) and prints the
figures recorded in docs/benchmarks.md.

    .venv/bin/python fuzz/fuzz_inputs.py var/fuzz/corpus -max_total_time=60
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["partnerops", "yaml"]):
    import yaml  # noqa: F401 (instrumented: the parser's branches guide the fuzzer)

    from partnerops.agreements.validate import CheckedFile, check_bytes
    from partnerops.evidence.feeds import FEED_NAMES, FEEDS
    from partnerops.evidence.validate import BadLine, FileRows

REPO_ROOT = Path(__file__).resolve().parents[1]
FORMATS = {1: "csv", 2: "jsonl"}


def check_agreement(data: bytes) -> None:
    result = check_bytes(data, "fuzz.yaml")
    if not isinstance(result, CheckedFile):
        raise AssertionError(f"check_bytes returned {type(result).__name__}")
    if (result.agreement is None) == (not result.problems):
        raise AssertionError("neither an agreement nor a problem, or both")
    for problem in result.problems:
        if not problem.message.strip() or (problem.line is not None and problem.line < 1):
            raise AssertionError(f"a problem without a message or with a bad line: {problem!r}")


def check_feed_file(feed_name: str, fmt: str, data: bytes) -> None:
    feed = FEEDS[feed_name]
    bad: list[BadLine] = []
    rows = FileRows(feed, io.BytesIO(data), fmt, bad.append)
    good = list(rows.copy_lines())
    numbers = sorted([int(line.split(b",", 1)[0]) for line in good] + [b.line_no for b in bad])
    first = 2 if fmt == "csv" else 1
    if numbers != list(range(first, first + rows.rows_in_file)):
        raise AssertionError(f"lines not accounted for: {numbers[:10]} of {rows.rows_in_file}")
    if any(not b.reason.strip() for b in bad):
        raise AssertionError("a bad line without a reason")
    for line in good:
        fields = next(csv.reader([line.decode("utf-8").removesuffix("\n")], strict=True))
        if len(fields) != len(rows.staging_columns) + 1:
            raise AssertionError(f"a COPY line with {len(fields)} fields: {line[:200]!r}")


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    selector, feed_byte, body = data[0] % 3, data[1], data[2:]
    if selector == 0:
        check_agreement(body)
    else:
        check_feed_file(FEED_NAMES[feed_byte % len(FEED_NAMES)], FORMATS[selector], body)


def seed_corpus(folder: Path) -> None:
    """The example agreements and one good file per feed and format, in the input layout above."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((REPO_ROOT / "examples" / "agreements").glob("*.yaml")):
        (folder / f"agreement-{path.stem}").write_bytes(b"\x00\x00" + path.read_bytes())
    for index, name in enumerate(FEED_NAMES):
        feed = FEEDS[name]
        row = {c.name: c.example for c in feed.columns}
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([feed.column_names, list(row.values())])
        (folder / f"{name}-csv").write_bytes(bytes([1, index]) + out.getvalue().encode())
        (folder / f"{name}-jsonl").write_bytes(bytes([2, index]) + (json.dumps(row) + "\n").encode())


def main() -> None:
    corpus = next((Path(a) for a in sys.argv[1:] if not a.startswith("-")), None)
    if corpus is not None:
        seed_corpus(corpus)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

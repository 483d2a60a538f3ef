"""Row validation for evidence files: every line becomes a staging row or a quarantined line.

`FileRows` reads a feed file (CSV or JSON Lines) in blocks and turns it into the lines of a
PostgreSQL `COPY ... (format csv)` stream, each prefixed with its line number in the file.
A line that breaks the format goes to `on_bad` with its line number, the first field at
fault and the reason, and never reaches the database.

Speed: a CSV line is first matched against one compiled pattern built from the feed's columns
(in the file's header order). A line that matches is valid as it stands and is passed to COPY
byte for byte. Only the rest (quoted fields, non-ASCII text, or errors) are parsed and checked
field by field, which also finds the reason. Rules across fields are checked in the database
(`Feed.rules`), where they are one pass over the staged rows.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import BinaryIO

from partnerops.evidence.feeds import Column, Feed

__all__ = ["BadLine", "FileRejected", "FileRows", "check_value", "quote"]

BLOCK_SIZE = 1 << 20
MAX_TEXT = 2000
MAX_RAW_LINE = 10_000
MAX_LINE_BYTES = 1 << 20  # a longer line is quarantined unread: no row comes near it
LONG_LINE = b"\xff<a line longer than MAX_LINE_BYTES>"  # stands for such a line (compared by identity)

# Byte patterns for the fast path; anything they accept, check_value accepts too.
_DATE = (rb"(?:19|20)\d\d-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
         rb"|(?:0[13578]|1[02])-31)")
_TIME = rb"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
_OFFSET = rb"(?:Z|[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00))"  # MAX_UTC_OFFSET, as check_value
_FAST: dict[str, bytes] = {
    "id": rb"[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,127}",
    "text": rb"[\x20\x21\x23-\x2b\x2d-\x7e]{1,2000}",
    "timestamp": _DATE + rb"T" + _TIME + _OFFSET,
    "date": _DATE,
    "amount": rb"(?:0|[1-9]\d{0,11})(?:\.\d{1,2})?",
    "count": rb"(?:0|[1-9]\d{0,14})",
    "currency": rb"[A-Z]{3}",
}
# Always applied with fullmatch (never `$`, which also matches before a final line break).
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,127}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_EMPTY_HASH = hashlib.sha256(b"").digest()
MAX_QUOTED = 200  # characters of an offending value quoted in a reason
MAX_UTC_OFFSET = timedelta(hours=14)  # the widest offset in use (UTC+14); PostgreSQL refuses beyond 15:59


@dataclass(frozen=True)
class BadLine:
    line_no: int
    field: str | None
    reason: str
    raw_line: str
    load_id: int | None = None  # the load whose quarantine holds the line, once stored


class FileRejected(Exception):
    """The file as a whole cannot be read as this feed (header, encoding); every line is quarantined."""


def quote(value: str) -> str:
    """`value` for a message: quoted, and cut to its first MAX_QUOTED characters."""
    if len(value) <= MAX_QUOTED:
        return repr(value)
    return f"{value[:MAX_QUOTED]!r}... ({len(value):,} characters)"


def _printable(text: str) -> str:
    """`text` cut to MAX_QUOTED characters, with what UTF-8 cannot hold (half surrogates) escaped."""
    return text[:MAX_QUOTED].encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def check_value(column: Column, value: str | None) -> str | None:
    """The value in the form COPY takes (None for empty), or ValueError with the reason."""
    if value is None or value == "":
        if column.required:
            raise ValueError("required field is empty")
        return None
    kind = column.kind
    if kind == "id":
        if not _ID.fullmatch(value):
            raise ValueError(f"{quote(value)} is not an id: use 1-128 letters, digits and _ . : @ / + -, "
                             "starting with a letter or digit")
        return value
    if kind == "text":
        if len(value) > MAX_TEXT or "\x00" in value:
            raise ValueError(f"text longer than {MAX_TEXT} characters or with a NUL character")
        return value
    if kind == "enum":
        if value not in column.values:
            raise ValueError(f"{quote(value)} is not one of {', '.join(column.values)}")
        return value
    if kind == "timestamp":
        return _check_timestamp(value)
    if kind == "date":
        try:
            if not _ISO_DATE.fullmatch(value):
                raise ValueError
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError(f"{quote(value)} is not a date: write YYYY-MM-DD, e.g. 2026-11-11") from None
    if kind == "amount":
        return _check_amount(value)
    if kind == "count":
        if not value.isascii() or not value.isdigit() or len(value) > 15:
            raise ValueError(f"{quote(value)} is not a whole number >= 0")
        return str(int(value))
    if kind == "currency":
        if not _CURRENCY.fullmatch(value):
            raise ValueError(f"{quote(value)} is not a currency code: use three capital letters, e.g. CNY")
        return value
    raise AssertionError(f"unknown column kind {kind}")


def _check_timestamp(value: str) -> str:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{quote(value)} is not a timestamp: write ISO 8601 with a UTC offset, "
                         "e.g. 2026-11-11T00:03:12+08:00") from None
    if ts.tzinfo is None:
        raise ValueError(f"{quote(value)} has no UTC offset: add one, e.g. 2026-11-11T00:03:12+08:00")
    offset = ts.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError(f"{quote(value)} has a UTC offset beyond the -14:00..+14:00 that time zones use")
    if not 1900 <= ts.year <= 2999:
        raise ValueError(f"{quote(value)} is out of range (years 1900-2999)")
    return ts.isoformat()


def _check_amount(value: str) -> str:
    try:
        amount = Decimal(value) if _DECIMAL.fullmatch(value) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 12:
        raise ValueError(f"{quote(value)} is not an amount: write a number >= 0 with at most two decimals, "
                         "e.g. 329.00")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{quote(value)} has more than two decimals")
    return str(amount)


def _copy_field(value: str | None) -> str:
    """A value for COPY (format csv): empty for null, else quoted."""
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def _raw(line: bytes) -> str:
    return line[:MAX_RAW_LINE].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


class FileRows:
    """Validate one feed file; iterate `copy_lines()` for the COPY stream of the good rows.

    After iterating: `rows_in_file`, `rows_bad`, `content_hash` and `staging_columns`.
    """

    def __init__(self, feed: Feed, handle: BinaryIO, fmt: str, on_bad: Callable[[BadLine], None]):
        self.feed = feed
        self.handle = handle
        self.fmt = fmt
        self.on_bad = on_bad
        self.rows_in_file = 0
        self.rows_bad = 0
        self._hash = hashlib.sha256()
        self.staging_columns: tuple[str, ...] = feed.column_names
        self.rejected: str | None = None

    @property
    def content_hash(self) -> str:
        return self._hash.hexdigest()

    def _lines(self) -> Iterator[bytes]:
        """The file's lines without their line ends; the hash covers every byte read.

        A line longer than MAX_LINE_BYTES is not kept in memory: it comes as `LONG_LINE`.
        """
        carry, skipping = b"", False
        while block := self.handle.read(BLOCK_SIZE):
            self._hash.update(block)
            lines = (carry + block).split(b"\n")
            carry = lines.pop()
            if skipping:
                if not lines:  # the long line goes on
                    carry = b""
                    continue
                lines[0], skipping = LONG_LINE, False
            yield from lines
            if len(carry) > MAX_LINE_BYTES:
                carry, skipping = b"", True
        if skipping:
            yield LONG_LINE
        elif carry:
            yield carry

    def copy_lines(self) -> Iterator[bytes]:
        """The COPY stream, one line per good row: `<line_no>,<fields in staging_columns order>`."""
        lines = self._lines()
        if self.fmt == "csv":
            yield from self._csv(lines)
        else:
            yield from self._jsonl(lines, first_line_no=1)
        # An empty JSON Lines file is a delivery with no rows (a day without events), and keeps its
        # feed fresh; an empty CSV file has lost its header line.
        empty = self.rows_in_file == 0 and self._hash.digest() == _EMPTY_HASH
        if self.fmt == "csv" and empty and self.rejected is None:
            self.rejected = (f"the file is empty; every {self.feed.name} file starts with the header line "
                             f"{','.join(self.feed.column_names)}")

    def _bad(self, line_no: int, field: str | None, reason: str, line: bytes) -> None:
        self.rows_bad += 1
        self.on_bad(BadLine(line_no, field, reason, _raw(line)))

    def _long_line(self, line_no: int) -> None:
        self._bad(line_no, None, f"the line is longer than {MAX_LINE_BYTES:,} bytes; a row is one short line (is a "
                  "line break missing?)", b"")

    def _reject_rest(self, lines: Iterator[bytes], first_line_no: int, reason: str) -> None:
        self.rejected = reason
        for line_no, line in enumerate(lines, first_line_no):
            self.rows_in_file += 1
            self._bad(line_no, None, f"file rejected: {reason}", line)

    # -- CSV ---------------------------------------------------------------------------------

    def _csv(self, lines: Iterator[bytes]) -> Iterator[bytes]:
        header_line = next(lines, None)
        if header_line is None:
            return
        try:
            if header_line is LONG_LINE:
                raise FileRejected(f"line 1 is not a header: it is longer than {MAX_LINE_BYTES:,} bytes")
            header = self._header(header_line)
        except FileRejected as exc:
            self._reject_rest(lines, 2, str(exc))
            return
        self.staging_columns = tuple(header)
        columns = [self.feed.column(name) for name in header]
        fast = re.compile(b",".join(self._fast_pattern(c) for c in columns))
        fullmatch = fast.fullmatch
        for line_no, line in enumerate(lines, 2):
            self.rows_in_file += 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if fullmatch(line):
                yield b"%d,%b\n" % (line_no, line)
            else:
                row = self._csv_slow(line_no, line, columns)
                if row is not None:
                    yield row

    def _header(self, line: bytes) -> list[str]:
        try:
            text = line.decode("utf-8-sig").rstrip("\r")
        except UnicodeDecodeError:
            raise FileRejected("the header line is not UTF-8 text") from None
        try:
            header = [h.strip() for h in next(csv.reader([text]), [])]
        except csv.Error as exc:  # e.g. a carriage return or a NUL inside the line
            raise FileRejected(f"line 1 is not a CSV header line ({exc}): {quote(text)}; every {self.feed.name} "
                               f"file starts with the header line {','.join(self.feed.column_names)}") from None
        expected = self.feed.column_names
        if not set(header) & set(expected):
            raise FileRejected(f"line 1 is not the header: every {self.feed.name} file starts with the header line "
                               f"{','.join(expected)} (columns in any order); this file starts with "
                               f"{quote(text)}")
        unknown = [h for h in header if h not in expected]
        missing = [c for c in expected if c not in header]
        repeated = sorted({h for h in header if header.count(h) > 1})
        if unknown or missing or repeated:
            parts = []
            if unknown:
                parts.append(f"unknown column(s) {', '.join(unknown)}")
            if missing:
                parts.append(f"missing column(s) {', '.join(missing)}")
            if repeated:
                parts.append(f"repeated column(s) {', '.join(repeated)}")
            raise FileRejected(f"header (line 1): {'; '.join(parts)}; the header of a {self.feed.name} file is "
                               f"{','.join(expected)} (in any order)")
        return header

    @staticmethod
    def _fast_pattern(column: Column) -> bytes:
        if column.kind == "enum":
            pattern = b"(?:" + b"|".join(re.escape(v.encode()) for v in column.values) + b")"
        else:
            pattern = b"(?:" + _FAST[column.kind] + b")"
        return pattern if column.required else pattern + b"?"

    def _csv_slow(self, line_no: int, line: bytes, columns: list[Column]) -> bytes | None:
        if line is LONG_LINE:
            self._long_line(line_no)
            return None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._bad(line_no, None, f"not UTF-8 text (byte {exc.start + 1})", line)
            return None
        if not text.strip():
            self._bad(line_no, None, "empty line", line)
            return None
        try:
            fields = next(csv.reader([text], strict=True))
        except csv.Error as exc:
            self._bad(line_no, None, f"not a CSV line ({exc}); quote fields that hold commas, quotes or "
                      "line breaks, and do not break a row across lines", line)
            return None
        if len(fields) != len(columns):
            self._bad(line_no, None, f"expected {len(columns)} fields, found {len(fields)}", line)
            return None
        return self._checked(line_no, line, columns, fields)

    def _checked(self, line_no: int, line: bytes, columns: list[Column], fields: list[str | None]) -> bytes | None:
        out = [str(line_no)]
        for column, value in zip(columns, fields, strict=True):
            try:
                out.append(_copy_field(check_value(column, value)))
            except ValueError as exc:
                self._bad(line_no, column.name, str(exc), line)
                return None
        return (",".join(out) + "\n").encode("utf-8")

    # -- JSON Lines ----------------------------------------------------------------------------

    def _jsonl(self, lines: Iterator[bytes], first_line_no: int) -> Iterator[bytes]:
        columns = list(self.feed.columns)
        names = set(self.feed.column_names)
        for line_no, line in enumerate(lines, first_line_no):
            self.rows_in_file += 1
            fields = self._json_fields(line_no, line, names)
            if fields is not None:
                row = self._checked(line_no, line, columns, [fields.get(c.name) for c in columns])
                if row is not None:
                    yield row

    def _json_fields(self, line_no: int, line: bytes, names: set[str]) -> dict[str, str | None] | None:
        if line is LONG_LINE:
            self._long_line(line_no)
            return None
        try:
            obj = json.loads(line)
        except (UnicodeDecodeError, ValueError) as exc:
            reason = "empty line" if not line.strip() else f"not a JSON object ({exc})"
            self._bad(line_no, None, reason, line)
            return None
        except RecursionError:
            self._bad(line_no, None, "not a row: the JSON is nested too deeply; a row is one flat {...} object",
                      line)
            return None
        if not isinstance(obj, dict):
            self._bad(line_no, None, "not a JSON object: each line holds one {...} object", line)
            return None
        unknown = sorted(set(obj) - names)
        if unknown:
            self._bad(line_no, _printable(unknown[0]), f"unknown field {quote(unknown[0])}; a "
                      f"{self.feed.name} row has the fields {', '.join(self.feed.column_names)}", line)
            return None
        out: dict[str, str | None] = {}
        for key, value in obj.items():
            if isinstance(value, str) and (half := _SURROGATE.search(value)):
                self._bad(line_no, key, f"holds the escape \\u{ord(half.group()):04x} at position {half.start() + 1}, "
                          "half of a surrogate pair and no character; write the character itself", line)
                return None
            if value is None or isinstance(value, str):
                out[key] = value
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = str(value)
            else:
                self._bad(line_no, key, f"must be a string or a number, not {type(value).__name__}", line)
                return None
        return out

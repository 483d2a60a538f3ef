"""Validation of agreement documents: the schema, then the rules that span fields.

`check_file(path)` never raises for bad input: every problem comes back as a `Problem`
with the file, the field path (e.g. `commitments[2].due`), the line where the YAML
parser saw that field, and a plain message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from partnerops.agreements.model import Agreement, agreement_from_document, agreement_schema

AGREEMENT_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 1_000_000

# Metrics and the evidence feed they are computed from.
METRIC_EVIDENCE = {
    "shipped_within_48h_share": "shipment",
    "delivered_within_72h_share": "shipment",
    "new_customers": "order",
    "repeat_purchase_rate": "order",
    "o2o_order_share": "order",
    "gmv": "order",
    "records_delivered": "data_delivery",
}
SHARE_METRICS = {"shipped_within_48h_share", "delivered_within_72h_share", "repeat_purchase_rate", "o2o_order_share"}
KIND_BLOCKS = {"deliverable": ("due", "opens"), "recurring": ("recurrence",), "quota": ("quota",),
               "threshold": ("threshold",)}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file."""

    file: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(document)'}: {self.message}"


@dataclass
class CheckedFile:
    """The outcome of checking one file: an agreement, or the problems that stop it."""

    path: Path
    content_hash: str
    document: dict[str, Any] | None = None
    agreement: Agreement | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.agreement is not None


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text (the schema checks them) and rejects duplicate keys."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise _DuplicateKey(problem=f"the field '{key}' appears twice", problem_mark=key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def iter_agreement_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """Files named on the command line, and every .yaml/.yml file under named folders, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in AGREEMENT_SUFFIXES and p.is_file())
        else:
            yield path


def _field_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(root: yaml.Node | None, parts: list[Any]) -> int | None:
    """The 1-based line of the node at `parts` in the composed YAML, or of its nearest parent."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in parts:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    nxt, line = value_node, key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def _schema_message(error: ValidationError) -> tuple[list[Any], str]:
    """A plain message and the field path for one schema error."""
    path = list(error.absolute_path)
    name = path[-1] if path and isinstance(path[-1], str) else "value"
    v = error.validator
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path + [missing], f"the required field '{missing}' is missing"
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return path + extra[:1], f"unknown field(s) {', '.join(map(repr, extra))}; check the spelling against docs/agreement-format.md"
    if v == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return path, f"unknown {name} {error.instance!r}; expected one of: {allowed}"
    if v == "const":
        return path, f"must be {error.validator_value!r}, found {error.instance!r}"
    if v == "type":
        expected = error.validator_value if isinstance(error.validator_value, str) else " or ".join(error.validator_value)
        return path, f"must be {'an' if expected[0] in 'aeiou' else 'a'} {expected}, found {type(error.instance).__name__} {error.instance!r}"
    if v in ("pattern", "format") and ("date" in str(error.schema.get("format", "")) or "date" in str(error.validator_value)):
        return path, f"{error.instance!r} is not a valid date; write YYYY-MM-DD"
    if v == "pattern":
        return path, f"{error.instance!r} has characters that are not allowed here (pattern {error.validator_value})"
    if v in ("minProperties", "maxProperties") and path and path[-1] in ("grace", "due_after"):
        return path, "give exactly one of 'days' or 'business_days'"
    return path, error.message


def _cross_field_problems(doc: dict[str, Any]) -> Iterator[tuple[list[Any], str]]:
    """Rules the schema cannot state: dates in order, ids unique, dependencies resolvable."""
    term_start = date.fromisoformat(doc["term"]["start"])
    term_end = date.fromisoformat(doc["term"]["end"])
    signed = date.fromisoformat(doc["signed_date"])
    if term_end < term_start:
        yield ["term", "end"], f"the term ends ({term_end}) before it starts ({term_start})"
    if signed > term_end:
        yield ["signed_date"], f"signed on {signed}, after the term ended ({term_end})"
    try:
        ZoneInfo(doc.get("timezone", "Asia/Shanghai"))
    except (ZoneInfoNotFoundError, ValueError):
        yield ["timezone"], f"unknown time zone {doc['timezone']!r}; use an IANA name such as Asia/Shanghai"

    def in_term(value: str | None, where: list[Any], what: str) -> Iterator[tuple[list[Any], str]]:
        if value is not None:
            d = date.fromisoformat(value)
            if not term_start <= d <= term_end:
                yield where, f"the {what} {d} is outside the term ({term_start} to {term_end})"

    commitments = doc["commitments"]
    by_id: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, c in enumerate(commitments):
        here: list[Any] = ["commitments", i]
        if c["id"] in by_id:
            yield here + ["id"], f"the commitment id {c['id']!r} is used twice (also commitments[{by_id[c['id']][0]}])"
        else:
            by_id[c["id"]] = (i, c)
        for kind, blocks in KIND_BLOCKS.items():
            if kind != c["kind"]:
                for block in blocks:
                    if block in c:
                        yield here + [block], f"'{block}' belongs to {kind} commitments, but this one is {c['kind']}"
        yield from in_term(c.get("due"), here + ["due"], "due date")
        yield from in_term(c.get("opens"), here + ["opens"], "opening date")
        if c.get("opens") and c.get("due") and c["opens"] > c["due"]:
            yield here + ["opens"], f"opens ({c['opens']}) after it is due ({c['due']})"
        rec = c.get("recurrence") or {}
        yield from in_term(rec.get("starts"), here + ["recurrence", "starts"], "first period start")
        yield from in_term(rec.get("ends"), here + ["recurrence", "ends"], "last period end")
        if rec.get("starts") and rec.get("ends") and rec["starts"] > rec["ends"]:
            yield here + ["recurrence", "ends"], f"the recurrence ends ({rec['ends']}) before it starts ({rec['starts']})"
        thr = c.get("threshold")
        if thr:
            needed = METRIC_EVIDENCE[thr["metric"]]
            if c["evidence"]["type"] != needed:
                yield here + ["evidence", "type"], f"the metric {thr['metric']} is computed from {needed} evidence, not {c['evidence']['type']}"
            if thr["metric"] in SHARE_METRICS and thr["target"] > 1:
                yield here + ["threshold", "target"], f"{thr['metric']} is a share between 0 and 1; {thr['target']} is out of range"

    for i, c in enumerate(commitments):
        dep = c.get("depends_on")
        if dep is None:
            continue
        where = ["commitments", i, "depends_on"]
        if dep == c["id"]:
            yield where, "a commitment cannot depend on itself"
        elif dep not in by_id:
            yield where, f"depends on {dep!r}, but no commitment in this agreement has that id"
        elif by_id[dep][1]["obligor"] == c["obligor"]:
            yield where, (f"depends on {dep!r}, which the same side ({c['obligor']}) owes; "
                          "depends_on names a commitment of the other side")
    # A chain of dependencies that comes back to its start can never be judged.
    for start in by_id:
        seen, cur = [start], by_id[start][1].get("depends_on")
        while cur in by_id and cur not in seen:
            seen.append(cur)
            cur = by_id[cur][1].get("depends_on")
        if cur == start and len(seen) > 1:
            yield ["commitments", by_id[start][0], "depends_on"], "circular dependency: " + " -> ".join(seen + [start])
            break


def check_bytes(data: bytes, file: str) -> CheckedFile:
    """Check one document given as bytes (the form intake hashes)."""
    result = CheckedFile(path=Path(file), content_hash=hashlib.sha256(data).hexdigest())

    def fail(parts: list[Any], message: str, line: int | None = None) -> CheckedFile:
        result.problems.append(Problem(file, _field_path(parts), message, line))
        return result

    if len(data) > MAX_FILE_BYTES:
        return fail([], f"the file is {len(data)} bytes; an agreement document is at most {MAX_FILE_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return fail([], f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8")
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - _Loader is a SafeLoader
        root = yaml.compose(text, Loader=_Loader) if len(docs) == 1 else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = f", column {mark.column + 1}" if mark else ""
        return fail([], f"not valid YAML{col}: {exc.problem or exc.context}", line)
    except yaml.YAMLError as exc:
        return fail([], f"not valid YAML: {exc}")
    if not docs or docs == [None]:
        return fail([], "the file is empty; an agreement document is a YAML mapping of fields")
    if len(docs) > 1:
        return fail([], f"the file holds {len(docs)} YAML documents; put one agreement in each file")
    doc = docs[0]
    if not isinstance(doc, dict):
        return fail([], f"the document must be a mapping of fields, found {type(doc).__name__}", 1)

    validator = Draft202012Validator(agreement_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    seen: set[tuple[str, str]] = set()
    for error in errors:
        if error.validator in ("if", "allOf"):
            continue
        parts, message = _schema_message(error)
        key = (_field_path(parts), message)
        if key not in seen:
            seen.add(key)
            fail(parts, message, _line_of(root, parts))
    if result.problems:
        return result
    for parts, message in _cross_field_problems(doc):
        fail(parts, message, _line_of(root, parts))
    if result.problems:
        return result
    result.document = doc
    result.agreement = agreement_from_document(doc)
    return result


def check_file(path: Path) -> CheckedFile:
    """Check one file; an unreadable file is a problem, not an exception."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return CheckedFile(path, "", problems=[Problem(str(path), "", "no such file or folder")])
    except OSError as exc:
        return CheckedFile(path, "", problems=[Problem(str(path), "", f"cannot read the file: {exc.strerror}")])
    return check_bytes(data, str(path))


def check_paths(paths: Iterable[Path | str]) -> list[CheckedFile]:
    """Check every agreement file under `paths`; a folder with none is itself a problem."""
    results: list[CheckedFile] = []
    for raw in paths:
        path = Path(raw)
        files = list(iter_agreement_files([path]))
        if path.is_dir() and not files:
            results.append(CheckedFile(path, "", problems=[Problem(str(path), "", "the folder holds no .yaml or .yml files")]))
        results.extend(check_file(f) for f in files)
    return results

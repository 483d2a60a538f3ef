"""Validation of agreement documents: the schema, then the rules that span fields.

`check_file(path)` never raises for bad input: every problem comes back as a `Problem`
with the file, the field path (e.g. `commitments[2].due`), the line where the YAML
parser saw that field, and a plain message.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import reprlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from partnerops.agreements.model import (
    DEFAULT_TIMEZONE,
    Agreement,
    agreement_from_document,
    agreement_schema,
    services_by_pillar,
)
from partnerops.files import UnreadableFile, read_input

AGREEMENT_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 1_000_000
MAX_VALUES = 100_000  # values in a document once YAML aliases are expanded

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
KIND_BLOCKS = {
    "deliverable": ("due", "opens"),
    "recurring": ("recurrence",),
    "quota": ("quota",),
    "threshold": ("threshold",),
}


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


_YAML_TYPE_NAMES = {"NoneType": "null", "bool": "a boolean", "int": "a number", "float": "a number"}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise _DuplicateKey(
                problem="a field name must be a plain word, not a list or mapping", problem_mark=key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str):
            raise _DuplicateKey(
                problem=f"the field name {key_node.value!r} is not a word (YAML reads it as "
                f"{_YAML_TYPE_NAMES.get(type(key).__name__, type(key).__name__)}); use a field name such as 'title'",
                problem_mark=key_node.start_mark,
            )
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
            # Anything named like an agreement file but a folder is checked, so that a named pipe,
            # a device or an unreadable file is reported rather than skipped in silence.
            yield from sorted(p for p in path.rglob("*") if p.suffix in AGREEMENT_SUFFIXES and not p.is_dir())
        else:
            yield path


def _field_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(root: yaml.Node | None, parts: Sequence[Any]) -> int | None:
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


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 60, 60, 4, 4, 2
_JSON_TYPES = {"string": "text", "integer": "an integer", "number": "a number", "boolean": "true/false",
               "object": "a mapping of fields", "array": "a list", "null": "empty"}


def _found(value: Any) -> str:
    """What a value is, in the words of the messages, with a short rendering of it."""
    if value is None:
        return "nothing (null)"
    kind = ("true/false" if isinstance(value, bool) else "a number" if isinstance(value, int | float)
            else "text" if isinstance(value, str) else "a list" if isinstance(value, list)
            else "a mapping" if isinstance(value, dict) else type(value).__name__)
    return f"{kind} {_SHORT.repr(value)}"


def _pattern_hint(pattern: str) -> str:
    if "@" in pattern:
        return "is not an email address (name@example.com)"
    if pattern == "^[A-Z]{3}$":
        return "is not a currency code; use three capital letters such as CNY"
    if "A-Za-z0-9._-" in pattern:
        return "is not a valid id: use letters, digits, '.', '_' or '-', start with a letter or digit, at most 64"
    if "a-z0-9_-" in pattern:
        return ("is not a valid id: use lower-case letters, digits, '_' or '-', start with a letter or digit, "
                "at most 64")
    return f"does not have the expected form (pattern {pattern})"


def _schema_message(error: ValidationError) -> tuple[list[Any], str] | None:
    """A plain message and the field path for one schema error (None: said better by another error)."""
    path = list(error.absolute_path)
    name = path[-1] if path and isinstance(path[-1], str) else "value"
    v, limit, value = error.validator, error.validator_value, error.instance
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path + [missing], f"the required field '{missing}' is missing"
    if v == "additionalProperties":
        extra = sorted(set(value) - set(error.schema.get("properties", {})))
        return path + extra[:1], (f"unknown field(s) {', '.join(map(repr, extra))}; "
                                  "check the spelling against docs/agreement-format.md")
    if v == "enum" and name == "service" and "then" in error.schema_path:
        # the pillar's own list of services (the schema's if/then per pillar)
        pillar = next(p for p, names in services_by_pillar().items() if names == list(limit))
        owner = next((p for p, names in services_by_pillar().items() if value in names), None)
        if owner is None:
            return None  # an unknown service: the plain enum error already says so
        return path, (f"the service {value!r} belongs to the {owner} pillar, not {pillar}; "
                      f"{pillar} services are: {', '.join(limit)}")
    if v == "enum":
        return path, f"unknown {name} {_SHORT.repr(value)}; expected one of: {', '.join(map(str, limit))}"
    if v == "const":
        return path, f"must be {limit!r}, found {_found(value)}"
    if v == "type":
        names = [_JSON_TYPES.get(t, t) for t in ([limit] if isinstance(limit, str) else limit)]
        expected = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        return path, f"must be {expected}, found {_found(value)}"
    if v in ("pattern", "format") and error.schema.get("format") == "date":
        return path, f"{_SHORT.repr(value)} is not a valid date; write YYYY-MM-DD"
    if v == "pattern":
        return path, f"{_SHORT.repr(value)} {_pattern_hint(limit)}"
    if v in ("minProperties", "maxProperties") and path and path[-1] in ("grace", "due_after"):
        return path, "give exactly one of 'days' or 'business_days'"
    if v == "minProperties":
        return path, f"give at least {limit} of: {', '.join(error.schema.get('properties', {}))}"
    if v == "maxProperties":
        return path, f"has {len(value)} entries; at most {limit} are allowed"
    if v == "minItems":
        return path, f"must list at least {limit} item(s), found {len(value)}"
    if v == "maxItems":
        return path, f"lists {len(value)} items; at most {limit} are allowed"
    if v == "minLength":
        return path, "must not be empty" if limit == 1 else f"must be at least {limit} characters long"
    if v == "maxLength":
        return path, f"is {len(value)} characters long; at most {limit} are allowed"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "greater than",
                 "exclusiveMaximum": "less than"}[v]
        return path, f"must be {bound} {limit}, found {_SHORT.repr(value)}"
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
    if "effective_from" in doc:
        effective = date.fromisoformat(doc["effective_from"])
        if not term_start <= effective <= term_end:
            yield ["effective_from"], (f"the version takes effect on {effective}, outside the term "
                                       f"({term_start} to {term_end}); effective_from must lie inside it")
    if doc["version"] > 1 and "amendment_note" not in doc:
        yield ["amendment_note"], (f"version {doc['version']} is an amendment: say what it changes and why "
                                   "in amendment_note")
    try:
        ZoneInfo(doc.get("timezone", DEFAULT_TIMEZONE))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones, e.g. 'America'
        yield ["timezone"], f"unknown time zone {doc['timezone']!r}; use an IANA name such as {DEFAULT_TIMEZONE}"

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
            yield (
                here + ["recurrence", "ends"],
                f"the recurrence ends ({rec['ends']}) before it starts ({rec['starts']})",
            )
        thr = c.get("threshold")
        if thr:
            needed = METRIC_EVIDENCE[thr["metric"]]
            if c["evidence"]["type"] != needed:
                yield (
                    here + ["evidence", "type"],
                    f"the metric {thr['metric']} is computed from {needed} evidence, not {c['evidence']['type']}",
                )
            if thr["metric"] in SHARE_METRICS and thr["target"] > 1:
                yield (
                    here + ["threshold", "target"],
                    f"{thr['metric']} is a share between 0 and 1; {thr['target']} is out of range",
                )

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
            yield (
                where,
                (
                    f"depends on {dep!r}, which the same side ({c['obligor']}) owes; "
                    "depends_on names a commitment of the other side"
                ),
            )
    # A chain of dependencies that comes back to its start can never be judged.
    for start in by_id:
        seen, cur = [start], by_id[start][1].get("depends_on")
        while cur in by_id and cur not in seen:
            seen.append(cur)
            cur = by_id[cur][1].get("depends_on")
        if cur == start and len(seen) > 1:
            yield ["commitments", by_id[start][0], "depends_on"], "circular dependency: " + " -> ".join(seen + [start])
            break


@functools.cache
def _python_pattern(pattern: str) -> re.Pattern[str]:
    """A schema pattern as JSON Schema (ECMA-262) means it, for Python's `re`.

    Two differences matter: Python's `$` also matches before a final line break (so
    `"TM-2026-0042\\n"` would pass `^...$`), and its `\\d` matches any Unicode digit.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern.replace(r"\d", "[0-9]"))


def _pattern_keyword(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _python_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# The schema's validator, with `pattern` applied as the JSON Schema standard says.
AgreementValidator = validators.extend(Draft202012Validator, {"pattern": _pattern_keyword})


def schema_validator() -> Any:
    """A validator for agreement documents against the format v1 schema."""
    return AgreementValidator(agreement_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


_END = object()
_ONE_LINE_FIELDS = {"name", "title"}  # printed in lists, DAG names and alerts
_LINE_BREAK = re.compile(r"[\t\n\r\u2028\u2029\x85]")
_BAD_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _expanded_size(value: Any) -> int:
    """How many values `value` holds with aliases expanded; more than MAX_VALUES if it refers to itself.

    Iterative, so that deep nesting cannot exhaust Python's stack, and it stops counting
    past MAX_VALUES, so that a few aliases cannot make it expand a billion values.
    """
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[tuple[Any, Iterator[Any]]] = []
    total: dict[int, int] = {}

    def enter(v: Any) -> int | None:
        if not isinstance(v, dict | list):
            return 1
        if id(v) in sizes:
            return sizes[id(v)]
        if id(v) in on_stack:
            return MAX_VALUES + 1
        on_stack.add(id(v))
        total[id(v)] = 1
        stack.append((v, iter(v.values() if isinstance(v, dict) else v)))
        return None

    first = enter(value)
    if first is not None:
        return first
    while stack:
        v, children = stack[-1]
        child = next(children, _END)
        if child is _END or total[id(v)] > MAX_VALUES:
            stack.pop()
            on_stack.discard(id(v))
            sizes[id(v)] = total[id(v)]
            if stack:
                total[id(stack[-1][0])] += total[id(v)]
            continue
        size = enter(child)
        if size is not None:
            total[id(v)] += size
    return sizes[id(value)]


def _value_problems(doc: Any) -> Iterator[tuple[list[Any], str]]:
    """Values no field may hold: numbers that are not finite, text with control or broken characters.

    The schema lets these through (NaN passes every numeric bound), but PostgreSQL refuses
    NUL characters and NaN in JSON, and control characters would garble printed output.
    """
    todo: list[tuple[list[Any], Any]] = [([], doc)]
    while todo:  # depth first, in document order, without recursion
        parts, value = todo.pop()
        if isinstance(value, dict):
            todo.extend((parts + [k], v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            todo.extend((parts + [i], v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, float) and not math.isfinite(value):
            yield parts, f"must be a finite number, found {value}"
        elif isinstance(value, str) and (bad := _BAD_CHAR.search(value)):
            yield parts, (f"contains the control or invalid character U+{ord(bad.group()):04X} at position "
                          f"{bad.start() + 1}; only printable text, tabs and line breaks are allowed")
        elif isinstance(value, str) and parts and parts[-1] in _ONE_LINE_FIELDS and _LINE_BREAK.search(value):
            yield parts, "must be a single line (no line breaks or tabs); put longer text in description"


def _load(text: str) -> tuple[list[yaml.Node], list[Any]]:
    """Every document in `text`, as composed nodes (for line numbers) and as values, in one parse."""
    loader = _Loader(text)
    try:
        nodes: list[yaml.Node] = []
        docs: list[Any] = []
        while loader.check_node():
            nodes.append(loader.get_node())
            docs.append(loader.construct_document(nodes[-1]))
        return nodes, docs
    finally:
        loader.dispose()


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
        nodes, docs = _load(text)
        root = nodes[0] if len(nodes) == 1 else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = f", column {mark.column + 1}" if mark else ""
        return fail([], f"not valid YAML{col}: {exc.problem or exc.context}", line)
    except yaml.YAMLError as exc:
        return fail([], f"not valid YAML: {exc}")
    except RecursionError:
        return fail([], "the YAML is nested too deeply to be an agreement document")
    if not docs or docs == [None]:
        return fail([], "the file is empty; an agreement document is a YAML mapping of fields")
    if len(docs) > 1:
        return fail([], f"the file holds {len(docs)} YAML documents; put one agreement in each file")
    doc = docs[0]
    if not isinstance(doc, dict):
        return fail([], f"the document must be a mapping of fields, found {type(doc).__name__}", 1)
    if _expanded_size(doc) > MAX_VALUES:
        return fail([], f"the document holds more than {MAX_VALUES} values once YAML aliases (*name) are "
                        "expanded, or an alias refers to itself; write the values out")
    for parts, message in _value_problems(doc):
        fail(parts, message, line_of(root, parts))

    validator = schema_validator()
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    seen: set[tuple[str, str]] = set()
    for error in errors:
        if error.validator in ("if", "allOf"):
            continue
        said = _schema_message(error)
        if said is None:
            continue
        parts, message = said
        key = (_field_path(parts), message)
        if key not in seen:
            seen.add(key)
            fail(parts, message, line_of(root, parts))
    if result.problems:
        return result
    for parts, message in _cross_field_problems(doc):
        fail(parts, message, line_of(root, parts))
    if result.problems:
        return result
    result.document = doc
    result.agreement = agreement_from_document(doc)
    return result


def check_file(path: Path) -> CheckedFile:
    """Check one file; an unreadable file (or a pipe, a device, a folder) is a problem, not an exception."""
    try:
        data = read_input(path, MAX_FILE_BYTES)
    except UnreadableFile as exc:
        return CheckedFile(path, "", problems=[Problem(str(path), "", str(exc))])
    return check_bytes(data, str(path))


def check_paths(paths: Iterable[Path | str]) -> list[CheckedFile]:
    """Check every agreement file under `paths`; a folder with none is itself a problem."""
    results: list[CheckedFile] = []
    for raw in paths:
        path = Path(raw)
        files = list(iter_agreement_files([path]))
        if path.is_dir() and not files:
            results.append(
                CheckedFile(path, "", problems=[Problem(str(path), "", "the folder holds no .yaml or .yml files")])
            )
        results.extend(check_file(f) for f in files)
    return results

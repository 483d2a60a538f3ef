"""Hostile agreement documents (hypothesis): any input gives a verdict or a located error.

`check_bytes` is what intake and `partnerops agreements check` run on a file. For every input
it must return, never raise, and its answer must be usable: either an agreement and no
problem, or no agreement and problems that each name the file and say what is wrong, with a
line inside the file when they give one. The inputs are raw bytes, YAML-ish text, and the
example agreements with one field replaced, removed or added at random.

The number of examples is bounded by the hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from partnerops.agreements.validate import CheckedFile, check_bytes

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "agreements"
DOCUMENTS = {p.name: yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))}
NAME = "hostile.yaml"

#: Values of every YAML type, including the awkward ones (NaN, huge numbers, dates, control characters).
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    | st.dates(min_value=date(1, 1, 1)) | st.sampled_from(["", "-", "0", "2026-02-30", "*", "~", "{{ x }}"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def assert_verdict_or_located_error(result: CheckedFile, data: bytes) -> None:
    assert isinstance(result, CheckedFile)
    if result.agreement is not None:
        assert result.problems == [] and result.document is not None
        return
    assert result.problems, "neither an agreement nor a problem"
    # YAML's line breaks (its marks count lines by them): \n, \r, NEL, LS, PS; str.splitlines knows them all.
    lines = len(data.decode("utf-8", "replace").splitlines()) + 1
    for problem in result.problems:
        assert problem.file == NAME and problem.message.strip()
        assert problem.line is None or 1 <= problem.line <= lines, (problem, lines)
        assert str(problem).startswith(NAME)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a document (mapping keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    """An example agreement with one to three fields replaced, removed or added."""
    doc = yaml.safe_load(yaml.safe_dump(DOCUMENTS[draw(st.sampled_from(sorted(DOCUMENTS)))]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(VALUES)
        else:
            parent.append(draw(VALUES))
        if not _paths(doc):
            break
    return yaml.safe_dump(doc, allow_unicode=draw(st.booleans())).encode("utf-8")


@given(st.binary(max_size=2000))
@example(b"\xef\xbb\xbf")  # a byte order mark alone
@example(b"a: &a [*a]")  # an alias that refers to itself
@example(b"- " * 2000)  # nested too deeply
def test_any_bytes(data: bytes) -> None:
    assert_verdict_or_located_error(check_bytes(data, NAME), data)


YAML_ALPHABET = st.sampled_from(list(":-[]{},&*!|>'\"#%@`? \n\t") + ["<<", "---", "...", "!!python/object", "\x85"])


@given(st.lists(YAML_ALPHABET | st.text(max_size=6), max_size=60).map("".join))
@example("format_version: 1\nagreement_id: TM-2026-0001\n<<: *x\n")
def test_yaml_like_text(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    assert_verdict_or_located_error(check_bytes(data, NAME), data)


@given(mutated_documents())
@settings(max_examples=max(10, settings.default.max_examples // 3))  # a whole document checked each time
def test_example_agreements_with_fields_changed(data: bytes) -> None:
    assert_verdict_or_located_error(check_bytes(data, NAME), data)


def test_the_unchanged_examples_are_valid() -> None:
    """The mutations start from valid documents, so a verdict of "valid" stays reachable."""
    for name, doc in DOCUMENTS.items():
        result = check_bytes(yaml.safe_dump(doc).encode(), NAME)
        assert result.agreement is not None, (name, [str(p) for p in result.problems])

"""Agreement validation: every kind of bad document gets a plain message, its field and line.

`check_bytes` and `check_file` must never raise for bad input; each problem names the
file, the field path and (where the YAML has one) the line, in the form the CLI prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from partnerops.agreements.model import services_by_pillar, vocabulary
from partnerops.agreements.validate import (
    MAX_FILE_BYTES,
    METRIC_EVIDENCE,
    CheckedFile,
    Problem,
    check_bytes,
    check_file,
    check_paths,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = REPO_ROOT / "examples" / "agreements"

# A minimal valid agreement. Line numbers below refer to this text (line 1 = format_version).
GOOD = """\
format_version: 1
agreement_id: TM-2026-9001
version: 1
brand: {id: B9001, name: Test Brand}
group: {id: G9001, name: Test Group}
signed_date: 2025-12-01
term:
  start: 2026-01-01
  end: 2026-12-31
account_manager: {name: Li Na, email: li.na@partners.example.com}
gmv_target: {amount: 1000000, currency: CNY}
commitments:
  - id: launch-slot
    title: Grant a launch slot
    pillar: marketing
    service: new_product_launch
    obligor: platform
    kind: deliverable
    due: 2026-02-15
    evidence: {type: campaign_execution, match: {campaign_type: new_product_launch}}
  - id: spring-launch
    title: Launch the spring collection first
    pillar: marketing
    service: new_product_launch
    obligor: brand
    kind: deliverable
    opens: 2026-02-01
    due: 2026-03-01
    evidence: {type: channel_listing}
    depends_on: launch-slot
  - id: ship-within-48h
    title: Ship 95% of orders within 48 hours each month
    pillar: logistics
    service: fulfilment_sla
    obligor: brand
    kind: threshold
    threshold: {metric: shipped_within_48h_share, comparison: at_least, target: 0.95, window: month}
    evidence: {type: shipment}
  - id: monthly-report
    title: Monthly data report
    pillar: data_operations
    service: data_report
    obligor: platform
    kind: recurring
    recurrence: {every: month, due_after: {business_days: 5}, starts: 2026-01-01, ends: 2026-11-30}
    evidence: {type: data_delivery}
"""


def check(text: str | bytes, name: str = "agreement.yaml") -> CheckedFile:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return check_bytes(data, name)


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert text.count(old) == 1, f"the test's edit {old!r} must match exactly once"
    return text.replace(old, new)


def effective_from(value: str) -> str:
    """The base document with `effective_from: value` after its signed date (line 7)."""
    return edit("signed_date: 2025-12-01\n", f"signed_date: 2025-12-01\neffective_from: {value}\n")


def only_problem(result: CheckedFile) -> Problem:
    assert not result.ok
    assert result.agreement is None
    assert len(result.problems) == 1, [str(p) for p in result.problems]
    return result.problems[0]


def test_the_base_document_is_valid_and_typed() -> None:
    result = check(GOOD)
    assert result.ok, [str(p) for p in result.problems]
    a = result.agreement
    assert a.agreement_id == "TM-2026-9001" and a.version == 1
    assert a.timezone == "Asia/Shanghai"  # the default
    assert [c.id for c in a.commitments] == ["launch-slot", "spring-launch", "ship-within-48h", "monthly-report"]
    assert [c.beneficiary for c in a.commitments] == ["brand", "platform", "platform", "brand"]
    assert a.commitments[0].warning.elapsed_share == 0.75  # the default warning point
    assert a.commitments[2].threshold.min_sample == 30 and a.commitments[2].threshold.error_budget == 0
    assert a.effective_from is None and a.effective_date == a.signed_date  # in effect from its signing


@pytest.mark.parametrize("effective", ["2026-01-01", "2026-06-15", "2026-12-31"])
def test_effective_from_inside_the_term_is_kept(effective: str) -> None:
    result = check(effective_from(effective))
    assert result.ok, [str(p) for p in result.problems]
    assert result.agreement.effective_date.isoformat() == effective


# (case id, document text, field path, line, words the message must contain)
INVALID = [
    ("malformed YAML", edit("brand: {id: B9001, name: Test Brand}", "brand: {id: B9001, name: Test Brand"),
     "", 5, "not valid YAML"),
    ("tab indentation", edit("    title: Grant a launch slot", "\ttitle: Grant a launch slot"), "", 14,
     "not valid YAML"),
    ("wrong type", edit("\nversion: 1\n", "\nversion: one\n"), "version", 3, "must be an integer, found text 'one'"),
    ("wrong type in a block", edit("amount: 1000000", "amount: lots"), "gmv_target.amount", 11,
     "must be a number"),
    ("list instead of text", edit("    title: Monthly data report", "    title: [Monthly, report]"),
     "commitments[3].title", 40, "must be text, found a list"),
    ("missing required field", edit("signed_date: 2025-12-01\n", ""), "signed_date", 1,
     "the required field 'signed_date' is missing"),
    ("missing kind block", edit("    due: 2026-02-15\n", ""), "commitments[0].due", 13,
     "the required field 'due' is missing"),
    ("unknown pillar", edit("    pillar: logistics", "    pillar: finance"), "commitments[2].pillar", 33,
     "unknown pillar 'finance'; expected one of: data_operations, marketing, logistics, channel"),
    ("unknown kind", edit("    kind: recurring", "    kind: someday"), "commitments[3].kind", 44,
     "unknown kind 'someday'; expected one of: deliverable, recurring, quota, threshold"),
    ("unknown service", edit("    service: data_report", "    service: teleport"), "commitments[3].service", 42,
     "unknown service 'teleport'"),
    ("service of another pillar", edit("    service: data_report", "    service: traffic"),
     "commitments[3].service", 42, "the service 'traffic' belongs to the marketing pillar, not data_operations"),
    ("unknown obligor", edit("    obligor: platform\n    kind: recurring", "    obligor: tmall\n    kind: recurring"),
     "commitments[3].obligor", 43, "unknown obligor 'tmall'; expected one of: platform, brand"),
    ("unknown evidence type", edit("evidence: {type: data_delivery}", "evidence: {type: email}"),
     "commitments[3].evidence.type", 46, "unknown type 'email'"),
    ("unknown field", edit("    title: Grant a launch slot\n", "    title: Grant a launch slot\n    colour: red\n"),
     "commitments[0].colour", 15, "unknown field(s) 'colour'; check the spelling"),
    ("unknown top-level field", edit("\nversion: 1\n", "\nversion: 1\nnotes: signed in Hangzhou\n"), "notes", 4,
     "unknown field(s) 'notes'"),
    ("wrong format version", edit("format_version: 1", "format_version: 2"), "format_version", 1,
     "must be 1, found a number 2"),
    ("invalid calendar date", edit("due: 2026-03-01", "due: 2026-02-30"), "commitments[1].due", 28,
     "'2026-02-30' is not a valid date; write YYYY-MM-DD"),
    ("date in another form", edit("signed_date: 2025-12-01", "signed_date: 1 Dec 2025"), "signed_date", 6,
     "is not a valid date; write YYYY-MM-DD"),
    ("term ends before it starts", edit("  end: 2026-12-31", "  end: 2025-12-31"), "term.end", 9,
     "the term ends (2025-12-31) before it starts (2026-01-01)"),
    ("signed after the term", edit("signed_date: 2025-12-01", "signed_date: 2027-01-05"), "signed_date", 6,
     "signed on 2027-01-05, after the term ended (2026-12-31)"),
    ("takes effect before the term", effective_from("2025-12-31"),
     "effective_from", 7, "takes effect on 2025-12-31, outside the term (2026-01-01 to 2026-12-31)"),
    ("takes effect after the term", effective_from("2027-01-01"),
     "effective_from", 7, "takes effect on 2027-01-01, outside the term"),
    ("effective date in another form", effective_from("soon"),
     "effective_from", 7, "'soon' is not a valid date; write YYYY-MM-DD"),
    ("opens after due", edit("    opens: 2026-02-01", "    opens: 2026-03-02"), "commitments[1].opens", 27,
     "opens (2026-03-02) after it is due (2026-03-01)"),
    ("due date outside the term", edit("    due: 2026-02-15", "    due: 2027-02-15"), "commitments[0].due", 19,
     "the due date 2027-02-15 is outside the term (2026-01-01 to 2026-12-31)"),
    ("recurrence starts before the term", edit("starts: 2026-01-01", "starts: 2025-10-01"),
     "commitments[3].recurrence.starts", 45, "the first period start 2025-10-01 is outside the term"),
    ("recurrence ends before it starts",
     edit("starts: 2026-01-01, ends: 2026-11-30", "starts: 2026-06-01, ends: 2026-03-31"),
     "commitments[3].recurrence.ends", 45, "the recurrence ends (2026-03-31) before it starts (2026-06-01)"),
    ("duplicate commitment id", edit("  - id: monthly-report", "  - id: ship-within-48h"), "commitments[3].id",
     39, "the commitment id 'ship-within-48h' is used twice (also commitments[2])"),
    ("dangling depends_on", edit("depends_on: launch-slot", "depends_on: launch-slots"),
     "commitments[1].depends_on", 30, "depends on 'launch-slots', but no commitment in this agreement has that id"),
    ("depends_on the same side", edit("depends_on: launch-slot", "depends_on: ship-within-48h"),
     "commitments[1].depends_on", 30, "which the same side (brand) owes; depends_on names a commitment of the "
     "other side"),
    ("depends_on itself", edit("depends_on: launch-slot", "depends_on: spring-launch"),
     "commitments[1].depends_on", 30, "a commitment cannot depend on itself"),
    ("circular dependency", edit("    due: 2026-02-15\n", "    due: 2026-02-15\n    depends_on: spring-launch\n"),
     "commitments[0].depends_on", 20, "circular dependency: launch-slot -> spring-launch -> launch-slot"),
    ("block of another kind", edit("    due: 2026-02-15\n", "    due: 2026-02-15\n    quota: {target: 3}\n"),
     "commitments[0].quota", 20, "'quota' belongs to quota commitments, but this one is deliverable"),
    ("metric from the wrong evidence", edit("evidence: {type: shipment}", "evidence: {type: order}"),
     "commitments[2].evidence.type", 38, "the metric shipped_within_48h_share is computed from shipment evidence"),
    ("share target above 1", edit("target: 0.95", "target: 95"), "commitments[2].threshold.target", 37,
     "shipped_within_48h_share is a share between 0 and 1; 95 is out of range"),
    ("both days and business days", edit("due_after: {business_days: 5}", "due_after: {business_days: 5, days: 3}"),
     "commitments[3].recurrence.due_after", 45, "give exactly one of 'days' or 'business_days'"),
    ("number out of range", edit("\nversion: 1\n", "\nversion: 0\n"), "version", 3, "must be at least 1, found 0"),
    ("empty text", edit("    title: Grant a launch slot", '    title: ""'), "commitments[0].title", 14,
     "must not be empty"),
    ("no commitments", GOOD[: GOOD.index("commitments:")] + "commitments: []\n", "commitments", 12,
     "must list at least 1 item(s), found 0"),
    ("bad email", edit("li.na@partners.example.com", "li.na at partners"), "account_manager.email", 10,
     "is not an email address"),
    ("bad currency", edit("currency: CNY", "currency: rmb"), "gmv_target.currency", 11, "is not a currency code"),
    ("bad commitment id", edit("  - id: monthly-report", "  - id: Monthly Report"), "commitments[3].id", 39,
     "is not a valid id"),
    ("unknown time zone", edit("\nversion: 1\n", "\nversion: 1\ntimezone: Mars/Olympus\n"), "timezone", 4,
     "unknown time zone 'Mars/Olympus'; use an IANA name such as Asia/Shanghai"),
    ("time zone that is a folder", edit("\nversion: 1\n", "\nversion: 1\ntimezone: America\n"), "timezone", 4,
     "unknown time zone 'America'"),
    ("amendment without a note", edit("\nversion: 1\n", "\nversion: 2\n"), "amendment_note", 1,
     "version 2 is an amendment: say what it changes and why in amendment_note"),
    ("duplicate YAML key", edit("\nversion: 1\n", "\nversion: 1\nversion: 2\n"), "", 4,
     "the field 'version' appears twice"),
    ("field name that is a number", edit("\nversion: 1\n", "\nversion: 1\n2026: x\n"), "", 4,
     "the field name '2026' is not a word"),
    ("field name that is a list", edit("\nversion: 1\n", "\nversion: 1\n? [a, b]\n: x\n"), "", 4,
     "a field name must be a plain word"),
    ("not a finite number", edit("amount: 1000000", "amount: .nan"), "gmv_target.amount", 11,
     "must be a finite number, found nan"),
    ("infinite number", edit("amount: 1000000", "amount: .inf"), "gmv_target.amount", 11, "must be a finite number"),
    ("amount too large to store", edit("amount: 1000000", "amount: 1.0e+20"), "gmv_target.amount", 11,
     "must be at most 1000000000000000"),
    ("NUL character", edit("name: Test Brand", 'name: "Test\\0Brand"'), "brand.name", 4,
     "contains the control or invalid character U+0000 at position 5"),
    ("terminal escape", edit("name: Test Brand", 'name: "Test\\e[31mBrand"'), "brand.name", 4, "U+001B"),
    ("broken character", edit("name: Test Brand", 'name: "Test\\ud800Brand"'), "brand.name", 4, "U+D800"),
    ("name on two lines", edit("name: Test Brand", 'name: "Test\\nBrand"'), "brand.name", 4,
     "must be a single line"),
    ("empty warning", edit("    due: 2026-02-15\n", "    due: 2026-02-15\n    warning: {}\n"),
     "commitments[0].warning", 20, "give at least 1 of: elapsed_share, business_days_before_due"),
    ("warning share of 1 or more",
     edit("    due: 2026-02-15\n", "    due: 2026-02-15\n    warning: {elapsed_share: 1.5}\n"),
     "commitments[0].warning.elapsed_share", 20, "must be less than 1, found 1.5"),
    ("too many match attributes", edit("evidence: {type: shipment}", "evidence: {type: shipment, match: {"
                                       + ", ".join(f"k{i}: {i}" for i in range(11)) + "}}"),
     "commitments[2].evidence.match", 38, "has 11 entries; at most 10 are allowed"),
    ("match value that is a list", edit("evidence: {type: shipment}", "evidence: {type: shipment, match: {a: [1]}}"),
     "commitments[2].evidence.match.a", 38, "must be text, a number or true/false, found a list [1]"),
    ("boolean name", edit("name: Test Brand", "name: yes"), "brand.name", 4, "must be text, found true/false True"),
    ("opens before the term", edit("    opens: 2026-02-01", "    opens: 2025-02-01"), "commitments[1].opens", 27,
     "the opening date 2025-02-01 is outside the term (2026-01-01 to 2026-12-31)"),
    ("recurrence ends after the term", edit("ends: 2026-11-30", "ends: 2027-01-31"),
     "commitments[3].recurrence.ends", 45, "the last period end 2027-01-31 is outside the term"),
    ("too many commitments", GOOD + "".join(
        f"  - {{id: c{i}, title: T, pillar: marketing, service: traffic, obligor: platform, kind: quota, "
        f"quota: {{target: 1}}, evidence: {{type: campaign_execution}}}}\n" for i in range(500)),
     "commitments", 12, "lists 504 items; at most 500 are allowed"),
    ("not a mapping", "- just\n- a list\n", "", 1, "the document must be a mapping of fields, found list"),
    ("two documents", GOOD + "---\n" + GOOD, "", None, "the file holds 2 YAML documents"),
    ("empty file", "", "", None, "the file is empty"),
    ("only comments", "# nothing here yet\n", "", None, "the file is empty"),
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 10)}]\n" for i in range(1, 7)),
     "", None, "more than 100000 values once YAML aliases"),
    ("alias that refers to itself", edit("\nversion: 1\n", "\nversion: 1\ntitle: &t [*t]\n"), "", None,
     "or an alias refers to itself"),
    ("nested too deeply", "title: " + "[" * 5000 + "]" * 5000 + "\n", "", None, "nested too deeply"),
]


@pytest.mark.parametrize(("text", "field", "line", "words"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_each_kind_of_invalid_document_gets_a_plain_message(text: str, field: str, line: int | None,
                                                          words: str) -> None:
    result = check(text, "examples/x.yaml")
    assert not result.ok and result.agreement is None and result.document is None
    matching = [p for p in result.problems if words in p.message]
    assert matching, f"no problem says {words!r}: {[str(p) for p in result.problems]}"
    problem = matching[0]
    assert problem.field == field
    assert problem.line == line
    assert problem.file == "examples/x.yaml"
    where = f"examples/x.yaml:{line}" if line else "examples/x.yaml"
    assert str(problem) == f"{where}: {field or '(document)'}: {problem.message}"
    assert "Traceback" not in problem.message and "\n" not in problem.message


def test_an_unknown_service_is_reported_once_not_once_per_rule() -> None:
    problem = only_problem(check(edit("    service: data_report", "    service: teleport")))
    assert problem.field == "commitments[3].service"
    for service in vocabulary("service"):
        assert service in problem.message


def test_every_problem_in_a_file_is_reported_not_just_the_first() -> None:
    text = edit("\nversion: 1\n", "\nversion: one\n", edit("    pillar: logistics", "    pillar: finance"))
    fields = {p.field for p in check(text).problems}
    assert fields == {"version", "commitments[2].pillar"}


def test_messages_quote_long_values_briefly() -> None:
    text = edit("    title: Monthly data report", "    title: [" + ", ".join(["word"] * 5000) + "]")
    problem = only_problem(check(text))
    assert problem.field == "commitments[3].title"
    assert len(problem.message) < 200


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(edit("name: Test Brand", "name: Café Brand").encode("latin-1"))
    problem = only_problem(check_file(path))
    assert problem.file == str(path) and problem.field == "" and problem.line is None
    assert "the file is not UTF-8 text" in problem.message and "save it as UTF-8" in problem.message


def test_utf8_with_a_byte_order_mark_and_chinese_names_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + edit("name: Test Brand", "name: 飞驰运动 FeiChi").encode("utf-8"))
    result = check_file(path)
    assert result.ok, [str(p) for p in result.problems]
    assert result.agreement.brand_name == "飞驰运动 FeiChi"


def test_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "agreement.yaml"
    problem = only_problem(check_file(missing))
    assert problem.file == str(missing) and problem.message == "no such file or folder"
    results = check_paths([missing])
    assert [str(p) for r in results for p in r.problems] == [f"{missing}: (document): no such file or folder"]


def test_a_folder_without_agreements(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an agreement")
    [result] = check_paths([tmp_path])
    assert [p.message for p in result.problems] == ["the folder holds no .yaml or .yml files"]


def test_a_file_that_is_too_large() -> None:
    problem = only_problem(check(GOOD + "#" * MAX_FILE_BYTES))
    assert "an agreement document is at most" in problem.message


def test_folders_are_searched_and_every_file_gets_a_result(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "sub" / "b.yml").write_text(edit("\nversion: 1\n", "\nversion: one\n"), encoding="utf-8")
    (tmp_path / "sub" / "readme.md").write_text("# not an agreement")
    results = check_paths([tmp_path])
    assert [(r.path.name, r.ok) for r in results] == [("a.yaml", True), ("b.yml", False)]


def test_every_truncation_of_a_document_is_handled_without_an_exception() -> None:
    """Whatever a half-saved file looks like, the answer is problems, never an exception."""
    text = (EXAMPLES / "feichi-sport.v1.yaml").read_text("utf-8")
    lines = text.splitlines(keepends=True)
    outcomes = set()
    for n in range(len(lines) + 1):
        result = check("".join(lines[:n]))
        assert result.ok or result.problems
        outcomes.add(result.ok)
    assert outcomes == {True, False}  # the whole file is valid, some prefixes are not


# ----------------------------------------------------------------- examples


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_hand_written_examples_including_an_amendment() -> None:
    files = example_files()
    assert len(files) >= 4
    agreements = [check_file(f).agreement for f in files]
    by_id: dict[str, list[int]] = {}
    for a in agreements:
        by_id.setdefault(a.agreement_id, []).append(a.version)
    amended = [i for i, versions in by_id.items() if sorted(versions) == [1, 2]]
    assert amended, "one example is amended: versions 1 and 2 of the same agreement_id"
    v1, v2 = (next(a for a in agreements if a.agreement_id == amended[0] and a.version == v) for v in (1, 2))
    assert v2.amendment_note and not v1.amendment_note
    moved = {c.id for c in v2.commitments} & {c.id for c in v1.commitments}
    assert any(next(c for c in v1.commitments if c.id == i).due != next(c for c in v2.commitments if c.id == i).due
               for i in moved), "the amendment moves a due date"
    # a group with two brands, and Chinese names somewhere
    groups: dict[str, set[str]] = {}
    for a in agreements:
        groups.setdefault(a.group_id, set()).add(a.brand_id)
    assert max(len(brands) for brands in groups.values()) >= 2
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in a.brand_name + a.group_name) for a in agreements)


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_each_example_validates(path: Path) -> None:
    result = check_file(path)
    assert result.ok, [str(p) for p in result.problems]


def test_the_examples_together_show_every_pillar_kind_and_side() -> None:
    commitments = [c for f in example_files() for c in check_file(f).agreement.commitments]
    assert {c.pillar for c in commitments} == set(vocabulary("pillar"))
    assert {c.kind for c in commitments} == set(vocabulary("kind"))
    assert {c.obligor for c in commitments} == {"platform", "brand"}
    assert all(c.service in services_by_pillar()[c.pillar] for c in commitments)


# ------------------------------------------------------------ sample corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from partnerops.agreements.sample import write_sample_corpus

    return write_sample_corpus(tmp_path_factory.mktemp("corpus"), brands=160, groups=110, seed=2015)


@pytest.fixture(scope="module")
def corpus_checked(corpus: list[Path]) -> list[CheckedFile]:
    return check_paths([corpus[0].parent])


def test_the_sample_corpus_validates(corpus_checked: list[CheckedFile]) -> None:
    assert len(corpus_checked) == 160
    assert [str(p) for r in corpus_checked for p in r.problems] == []


def test_the_sample_corpus_matches_the_reference_scenario(corpus: list[Path],
                                                          corpus_checked: list[CheckedFile]) -> None:
    agreements = [r.agreement for r in corpus_checked]
    assert len({a.agreement_id for a in agreements}) == 160
    assert len({a.brand_id for a in agreements}) == 160
    assert len({a.group_id for a in agreements}) == 110
    assert {a.gmv_target_currency for a in agreements} == {"CNY"}
    docs = [yaml.safe_load(p.read_text("utf-8")) for p in corpus]
    assert all(isinstance(d["gmv_target"]["amount"], int) for d in docs)
    assert sum(d["gmv_target"]["amount"] for d in docs) == 30_000_000_000
    commitments = [c for a in agreements for c in a.commitments]
    assert {c.pillar for c in commitments} == set(vocabulary("pillar"))
    assert {c.kind for c in commitments} == set(vocabulary("kind"))
    assert {c.obligor for c in commitments} == {"platform", "brand"}
    assert {c.threshold.metric for c in commitments if c.threshold} <= set(METRIC_EVIDENCE)


def test_the_sample_corpus_is_deterministic(tmp_path: Path) -> None:
    from partnerops.agreements.sample import write_sample_corpus

    def contents(out: Path, seed: int) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in write_sample_corpus(out, brands=160, groups=110, seed=seed)}

    first, again, other = contents(tmp_path / "a", 7), contents(tmp_path / "b", 7), contents(tmp_path / "c", 8)
    assert len(first) == 160
    assert first == again
    assert first.keys() == other.keys() and first != other


def test_sample_documents_refuses_impossible_sizes() -> None:
    from partnerops.agreements.sample import sample_documents

    with pytest.raises(ValueError, match="groups <= brands"):
        sample_documents(brands=3, groups=5)


# -- patterns: no trailing line break, ASCII digits only ------------------------------------------

TRAILING_BREAK_CASES = [
    ("agreement_id: TM-2026-9001", 'agreement_id: "TM-2026-9001\\n"', "agreement_id", "is not a valid id"),
    ("brand: {id: B9001,", 'brand: {id: "B9001\\n",', "brand.id", "is not a valid id"),
    ("group: {id: G9001,", 'group: {id: "G9001\\n",', "group.id", "is not a valid id"),
    ("currency: CNY}", 'currency: "CNY\\n"}', "gmv_target.currency", "is not a currency code"),
    ("email: li.na@partners.example.com}", 'email: "li.na@partners.example.com\\n"}', "account_manager.email",
     "is not an email address"),
    ("  - id: launch-slot", '  - id: "launch-slot\\n"', "commitments[0].id", "is not a valid id"),
    ("depends_on: launch-slot", 'depends_on: "launch-slot\\n"', "commitments[1].depends_on", "is not a valid id"),
    ("signed_date: 2025-12-01", 'signed_date: "2025-12-01\\n"', "signed_date", "is not a valid date"),
    ("  start: 2026-01-01", '  start: "2026-01-01\\n"', "term.start", "is not a valid date"),
    ("due: 2026-02-15", 'due: "2026-02-15\\n"', "commitments[0].due", "is not a valid date"),
    ("signed_date: 2025-12-01", 'signed_date: "\uff12\uff10\uff12\uff15-12-01"', "signed_date", "is not a valid date"),
]


@pytest.mark.parametrize("old, new, field, message", TRAILING_BREAK_CASES,
                         ids=[f"{c[2]}-{i}" for i, c in enumerate(TRAILING_BREAK_CASES)])
def test_no_id_code_or_date_accepts_a_trailing_line_break(old, new, field, message) -> None:
    problem = only_problem(check(edit(old, new)))
    assert problem.field == field and message in problem.message, str(problem)


def test_every_pattern_of_the_schema_rejects_a_trailing_line_break() -> None:
    from partnerops.agreements.model import agreement_schema
    from partnerops.agreements.validate import schema_validator

    def patterns(node) -> set[str]:
        found: set[str] = set()
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            node = list(node.values())
        if isinstance(node, list):
            for child in node:
                found |= patterns(child)
        return found

    # one valid value per pattern: a pattern added to the schema must be added here, and is tested
    samples = {"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$": "TM-2026-0042", "^[a-z0-9][a-z0-9_-]{0,63}$": "launch-slot",
               "^[A-Z]{3}$": "CNY", "^\\d{4}-\\d{2}-\\d{2}$": "2026-01-01",
               "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$": "li.na@example.com"}
    found = patterns(agreement_schema())
    assert found == set(samples)
    validator = schema_validator()
    for pattern, good in samples.items():
        schema = {"type": "string", "pattern": pattern}
        assert validator.evolve(schema=schema).is_valid(good), pattern
        assert not validator.evolve(schema=schema).is_valid(good + "\n"), pattern


# -- paths that are not regular files: reported, never read ------------------------------------------


def test_paths_that_are_not_regular_files_are_problems_and_never_block(tmp_path: Path) -> None:
    import os

    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "folder.yaml" / "inside.yaml").write_text(GOOD, encoding="utf-8")
    results = {r.path.name: r for r in check_paths([tmp_path])}
    assert results["good.yaml"].ok and results["inside.yaml"].ok
    assert [p.message for p in results["pipe.yaml"].problems] == [
        "is a named pipe (FIFO), not a regular file; only regular files are read"]
    assert [p.message for p in results["zero.yaml"].problems] == [
        "is a device (a link to /dev/zero), not a regular file; only regular files are read"]
    assert "folder.yaml" not in results
    # named on the command line, too
    assert only_problem(check_file(tmp_path / "pipe.yaml")).message.startswith("is a named pipe")
    assert only_problem(check_file(Path("/dev/zero"))).message.startswith("is a device")

"""The simulator's ground truth: one fate per commitment instance, as the feeds were made."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date

import pytest

from partnerops.evidence.ground_truth import (
    GROUND_TRUTH_COLUMNS,
    Occasion,
    ThresholdTerms,
    ground_truth_rows,
    read_ground_truth,
    threshold_windows,
)
from partnerops.evidence.simulate import agreements_from_sample, simulate

D = date.fromisoformat


def _occasion(kind: str, fate: str, evidence: str | None, key: str = "term", **kw) -> Occasion:
    return Occasion("A", kw.pop("commitment_id", kind), "brand", kind, key, D("2026-01-01"),
                    D(kw.pop("due", "2026-03-01")), fate, D(evidence) if evidence else None, **kw)


def test_deliverable_and_recurring_keep_their_occasions_fate():
    rows = ground_truth_rows([_occasion("deliverable", "late", "2026-03-09"),
                              _occasion("recurring", "missed", None, key="2026-02-01")])
    assert [(r["kind"], r["instance_key"], r["fate"], r["evidence_date"]) for r in rows] == [
        ("deliverable", "term", "late", "2026-03-09"), ("recurring", "2026-02-01", "missed", "")]


def test_quota_is_met_only_by_evidence_within_the_term():
    term_end = D("2026-12-31")
    made = [_occasion("quota", "on_time", e, quota_target=3, term_end=term_end, commitment_id="q")
            for e in ("2026-02-01", "2026-06-01", "2027-01-03")]
    missed = _occasion("quota", "missed", None, quota_target=3, term_end=term_end, commitment_id="q")
    (row,) = ground_truth_rows([*made, missed])
    assert (row["fate"], row["due_date"], row["detail"]) == ("missed", "2026-12-31", "2 of 3 made within the term")
    (row,) = ground_truth_rows([*made[:2], _occasion("quota", "late", "2026-12-30", quota_target=3, term_end=term_end,
                                                      commitment_id="q")])
    assert (row["fate"], row["evidence_date"]) == ("on_time", "2026-12-30")


def test_threshold_windows_and_the_error_budget():
    terms = ThresholdTerms("A", "ship", "brand", "B1", "shipped_within_48h_share", "at_least", 0.95, "month", 200, 1,
                           D("2026-01-01"), D("2026-03-31"))
    daily = {("B1", D("2026-01-10")): (300, 30, 0),  # 90 % within 48 h: misses
             ("B1", D("2026-02-10")): (300, 3, 0),  # 99 %: meets
             ("B1", D("2026-03-10")): (100, 50, 0),  # too few orders to judge
             ("B2", D("2026-03-11")): (900, 0, 0)}  # another brand
    assert threshold_windows(terms, daily) == [("2026-01", 300, 0.9, "non_compliant"),
                                               ("2026-02", 300, 0.99, "compliant"), ("2026-03", 100, None, "too_few")]
    (row,) = ground_truth_rows([], [terms], daily)
    assert row["fate"] == "on_time" and row["detail"] == "1 of 2 judged windows missed (budget 1): 2026-01"
    daily[("B1", D("2026-02-11"))] = (100, 60, 0)
    (row,) = ground_truth_rows([], [terms], daily)
    assert row["fate"] == "missed"


def test_an_unknown_fate_is_refused():
    with pytest.raises(ValueError, match="unknown fate"):
        ground_truth_rows([_occasion("deliverable", "cancelled", None)])


def test_the_simulator_writes_the_truth_of_every_instance_beside_the_feeds(tmp_path):
    agreements = agreements_from_sample(brands=4, groups=3)
    report = simulate(agreements, start=D("2026-01-01"), end=D("2026-04-30"), out=tmp_path / "inbox", scale=0.001,
                      ground_truth=tmp_path / "ground_truth.csv")
    rows = read_ground_truth(report.ground_truth)
    with report.ground_truth.open() as handle:
        assert tuple(next(csv.reader(handle))) == GROUND_TRUTH_COLUMNS
    periods = sum({"month": 12, "quarter": 4}[c.recurrence.every] for a in agreements for c in a.commitments
                  if c.recurrence)
    assert Counter(r["kind"] for r in rows)["recurring"] == periods  # every period of the term
    keys = [(r["agreement_id"], r["commitment_id"], r["instance_key"]) for r in rows]
    assert len(keys) == len(set(keys))
    # a delivered deliverable's proof is in the feeds it names; a missed one's never is
    listings = "".join(p.read_text() for p in (tmp_path / "inbox" / "channel_listings").glob("*.jsonl"))
    for r in rows:
        if r["commitment_id"] == "new-collection-launch":
            assert (f'L-{r["agreement_id"]}-new-collection-launch-01' in listings) == (r["fate"] != "missed")
            assert (r["evidence_date"] > r["due_date"]) == (r["fate"] == "late")

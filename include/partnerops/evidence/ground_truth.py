"""The simulator's ground truth: the fate it gave every commitment instance, written beside the feeds.

The simulator decides, before it writes any row, whether each occasion a commitment calls
for evidence is delivered on time, late or never (`Faults`), and how late each brand ships.
`ground_truth_rows` turns those decisions into one row per commitment instance, keyed as the
status mart keys them (`agreement_id`, `commitment_id`, `instance_key`), and
`write_ground_truth` writes them as CSV (`docs/evidence-formats.md`, "Ground truth"):

| kind | fate |
|---|---|
| deliverable, recurring | `on_time`, `late` or `missed`: the fate of its one occasion |
| quota | `on_time` when the occasions with evidence dated within the term reach the target, else `missed` |
| threshold | `missed` when more windows than the error budget miss the target, else `on_time` (*) |

(*) measured on the orders as the simulator made them; a window with fewer orders than the
minimum sample is not judged.

The truth is what the simulator meant, before the feeds' own faults (a duplicate, late or
malformed row) and before anyone loads anything: the benchmark of the early warning
(`partnerops bench-warning`) compares the statuses with it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

__all__ = ["FATES", "GROUND_TRUTH_COLUMNS", "Occasion", "ThresholdTerms", "ground_truth_rows", "read_ground_truth",
           "threshold_windows", "write_ground_truth"]

FATES = ("on_time", "late", "missed")
GROUND_TRUTH_COLUMNS = ("agreement_id", "commitment_id", "obligor", "kind", "instance_key", "opens_date", "due_date",
                        "fate", "evidence_date", "detail")


@dataclass(frozen=True)
class Occasion:
    """One occasion a commitment calls for evidence, and the fate the simulator gave it."""

    agreement_id: str
    commitment_id: str
    obligor: str
    kind: str  # deliverable | recurring | quota
    instance_key: str  # 'term', or the period's first date for a recurring commitment
    opens: date
    due: date
    fate: str  # on_time | late | missed
    evidence_date: date | None  # business date of the row that proves it (None: never made)
    quota_target: float | None = None
    term_end: date | None = None


@dataclass(frozen=True)
class ThresholdTerms:
    """A threshold commitment of an orders-based metric, as the ground truth judges it."""

    agreement_id: str
    commitment_id: str
    obligor: str
    brand_id: str
    metric: str  # shipped_within_48h_share | o2o_order_share
    comparison: str  # at_least | at_most
    target: float
    window: str  # month | quarter
    min_sample: int
    error_budget: int
    term_start: date
    term_end: date


def _window_key(day: date, window: str) -> str:
    return f"{day.year}-{day.month:02d}" if window == "month" else f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def threshold_windows(terms: ThresholdTerms, daily: Mapping[tuple[str, date], tuple[int, int, int]]
                      ) -> list[tuple[str, int, float | None, str]]:
    """Each window of the term: (key, orders, metric value, compliant | non_compliant | too_few).

    `daily` holds, per (brand, order date), (orders, shipped after 48 h, orders in O2O stores).
    """
    sums: dict[str, list[int]] = {}
    day = terms.term_start
    while day <= terms.term_end:
        counts = daily.get((terms.brand_id, day))
        total = sums.setdefault(_window_key(day, terms.window), [0, 0, 0])
        if counts:
            for i in range(3):
                total[i] += counts[i]
        day += timedelta(days=1)
    out = []
    for key, (orders, late, o2o) in sums.items():
        if orders < max(terms.min_sample, 1):
            out.append((key, orders, None, "too_few"))
            continue
        value = (orders - late) / orders if terms.metric == "shipped_within_48h_share" else o2o / orders
        ok = value >= terms.target if terms.comparison == "at_least" else value <= terms.target
        out.append((key, orders, value, "compliant" if ok else "non_compliant"))
    return out


def ground_truth_rows(occasions: Iterable[Occasion], thresholds: Iterable[ThresholdTerms] = (),
                      daily: Mapping[tuple[str, date], tuple[int, int, int]] | None = None) -> list[dict[str, str]]:
    """One row per commitment instance (columns `GROUND_TRUTH_COLUMNS`), sorted by its key."""
    rows: list[dict[str, str]] = []
    quotas: dict[tuple[str, str], list[Occasion]] = {}
    for o in occasions:
        if o.kind == "quota":
            quotas.setdefault((o.agreement_id, o.commitment_id), []).append(o)
            continue
        rows.append(_row(o.agreement_id, o.commitment_id, o.obligor, o.kind, o.instance_key, o.opens, o.due, o.fate,
                         o.evidence_date, ""))
    for group in quotas.values():
        first = group[0]
        assert first.term_end is not None and first.quota_target is not None
        made = sorted(o.evidence_date for o in group
                      if o.evidence_date is not None and o.evidence_date <= first.term_end)
        reached = len(made) >= first.quota_target
        rows.append(_row(first.agreement_id, first.commitment_id, first.obligor, "quota", "term", first.opens,
                         first.term_end, "on_time" if reached else "missed",
                         made[int(first.quota_target) - 1] if reached else None,
                         f"{len(made)} of {first.quota_target:g} made within the term"))
    for t in thresholds:
        windows = threshold_windows(t, daily or {})
        missed = [w[0] for w in windows if w[3] == "non_compliant"]
        judged = sum(w[3] != "too_few" for w in windows)
        rows.append(_row(t.agreement_id, t.commitment_id, t.obligor, "threshold", "term", t.term_start, t.term_end,
                         "missed" if len(missed) > t.error_budget else "on_time", None,
                         f"{len(missed)} of {judged} judged windows missed (budget {t.error_budget})"
                         + (f": {' '.join(missed)}" if missed else "")))
    rows.sort(key=lambda r: (r["agreement_id"], r["commitment_id"], r["instance_key"]))
    return rows


def _row(agreement_id: str, commitment_id: str, obligor: str, kind: str, instance_key: str, opens: date, due: date,
         fate: str, evidence_date: date | None, detail: str) -> dict[str, str]:
    if fate not in FATES:
        raise ValueError(f"unknown fate {fate!r}; one of {', '.join(FATES)}")
    return {"agreement_id": agreement_id, "commitment_id": commitment_id, "obligor": obligor, "kind": kind,
            "instance_key": instance_key, "opens_date": opens.isoformat(), "due_date": due.isoformat(), "fate": fate,
            "evidence_date": evidence_date.isoformat() if evidence_date else "", "detail": detail}


def write_ground_truth(path: Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """Write the rows as CSV with a header (written whole to a temporary file, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=GROUND_TRUTH_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


def read_ground_truth(path: Path) -> list[dict[str, str]]:
    """The rows of a ground-truth file."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))

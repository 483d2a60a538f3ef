"""`partnerops bench-warning`: the early warning measured against the simulator's ground truth.

A simulated year is replayed as of each of its days: the sample agreements are taken into a
throwaway database, the whole term is simulated (per-day files, so each row is known from the
day its file arrives) with the ground truth beside it, everything is loaded once, and one
full-refresh `dbt build` of the status mart computes every as-of date of the term from what was
known on that date (the marts' `known_by` rule), which is what a daily run would have shown.
The mart is built once, at the default warning point; the other warning points of the sweep are
derived from it by the same rule (`at_risk_from`), checked against the mart at the default.
Then, for each commitment instance:

- **at risk**: the first as-of date it read `at_risk` before its due date;
- **burn rate**: the first as-of date the SLA alerts' `burn_rate` rule fired on it (quota and
  threshold commitments; `partnerops.alerts.rules.burn_rate`).

`early_warning` compares those with the ground truth (`partnerops.evidence.ground_truth`):

- of the instances the simulator made late or missed (due within the replay): the share flagged
  at risk before the due date, the share flagged at least `lead_days` ahead (of those whose window
  from opening to due allows it) and the median lead in days;
- precision of `at_risk`: the share of the flagged instances that ended late or missed;
- recall and precision of the burn-rate alert, on the quota and threshold instances.

The at-risk point of a deliverable or recurring instance is its warning point, a share of its
window (`warning.elapsed_share`, default `DEFAULT_WARNING_ELAPSED_SHARE`); the benchmark sweeps
that share and reports each, so the default is picked from the figures.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

__all__ = ["SWEEP_SHARES", "BenchResult", "Schedule", "WarningFigures", "at_risk_from", "best_share", "early_warning",
           "render_table", "run_bench_warning"]

#: The warning points (shares of the window elapsed) the benchmark compares.
SWEEP_SHARES = (0.5, 0.75, 0.85, 0.95)
LEAD_DAYS = 7
BAD_FATES = frozenset({"late", "missed"})

Key = tuple[str, str, str]  # agreement_id, commitment_id, instance_key


@dataclass(frozen=True)
class WarningFigures:
    misses: int  # late or missed instances due within the replay
    flagged_before_due: int
    lead_eligible: int  # misses whose window is at least lead_days long
    flagged_lead_ahead: int  # of those, flagged at least lead_days before due
    median_lead_days: float | None
    flagged: int  # instances flagged at risk before due
    flagged_bad: int  # of those, late or missed
    burn_misses: int  # quota and threshold instances missed
    burn_alerts: int
    burn_alerts_bad: int
    lead_days: int = LEAD_DAYS

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def recall(self) -> float | None:
        return self._share(self.flagged_before_due, self.misses)

    @property
    def recall_lead(self) -> float | None:
        return self._share(self.flagged_lead_ahead, self.lead_eligible)

    @property
    def precision(self) -> float | None:
        return self._share(self.flagged_bad, self.flagged)

    @property
    def burn_recall(self) -> float | None:
        return self._share(self.burn_alerts_bad, self.burn_misses)

    @property
    def burn_precision(self) -> float | None:
        return self._share(self.burn_alerts_bad, self.burn_alerts)


def early_warning(truth: Iterable[Mapping[str, str]], at_risk_from: Mapping[Key, date],
                  burn_from: Mapping[Key, date], *, replay_end: date, lead_days: int = LEAD_DAYS) -> WarningFigures:
    """The figures of the module docstring.

    truth: ground-truth rows; at_risk_from / burn_from: per instance, the first as-of date it
    was flagged at risk / raised a burn-rate alert (before its due date; others are ignored).
    Only instances due by `replay_end` count (their fate is known by then).
    """
    misses = flagged_before = eligible = ahead = flagged = flagged_bad = 0
    burn_misses = burn_alerts = burn_bad = 0
    leads: list[int] = []
    for row in truth:
        due = date.fromisoformat(row["due_date"])
        if due > replay_end:
            continue
        key = (row["agreement_id"], row["commitment_id"], row["instance_key"])
        bad = row["fate"] in BAD_FATES
        flag = at_risk_from.get(key)
        if flag is not None and flag >= due:
            flag = None
        if flag is not None:
            flagged += 1
            flagged_bad += bad
        if bad:
            misses += 1
            window_allows = due - date.fromisoformat(row["opens_date"]) >= timedelta(days=lead_days)
            eligible += window_allows
            if flag is not None:
                flagged_before += 1
                leads.append((due - flag).days)
                ahead += window_allows and (due - flag).days >= lead_days
        if row["kind"] in ("quota", "threshold"):
            burn = burn_from.get(key)
            burn_misses += bad
            if burn is not None and burn < due:
                burn_alerts += 1
                burn_bad += bad
    return WarningFigures(misses, flagged_before, eligible, ahead, statistics.median(leads) if leads else None,
                          flagged, flagged_bad, burn_misses, burn_alerts, burn_bad, lead_days)


def best_share(figures: Mapping[float, WarningFigures]) -> float:
    """The share whose figures best balance the two goals: the highest F1 of the share of misses
    flagged `lead_days` ahead and the precision (ties: the earlier warning)."""
    def f1(f: WarningFigures) -> float:
        r, p = f.recall_lead or 0.0, f.precision or 0.0
        return 2 * r * p / (r + p) if r + p else 0.0

    return max(sorted(figures), key=lambda s: (f1(figures[s]), -s))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render_table(figures: Mapping[float, WarningFigures], chosen: float) -> str:
    """The early-warning table (Markdown), one row per warning point."""
    lead = next(iter(figures.values())).lead_days if figures else LEAD_DAYS
    lines = [f"| warning point (share of the window) | misses | flagged before due | flagged ≥ {lead} d ahead "
             "| median lead (d) | at-risk precision | burn-rate recall | burn-rate precision |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for share in sorted(figures):
        f = figures[share]
        median = "-" if f.median_lead_days is None else f"{f.median_lead_days:g}"
        lines.append(f"| {share:g}{' (default)' if share == chosen else ''} | {f.misses} | {_pct(f.recall)} "
                     f"| {_pct(f.recall_lead)} | {median} | {_pct(f.precision)} ({f.flagged_bad}/{f.flagged}) "
                     f"| {_pct(f.burn_recall)} ({f.burn_alerts_bad}/{f.burn_misses}) "
                     f"| {_pct(f.burn_precision)} ({f.burn_alerts_bad}/{f.burn_alerts}) |")
    return "\n".join(lines)


# -- the replay -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """What the sweep needs of a deliverable or recurring instance: its window, and when evidence was first known."""

    opens: date
    due: date
    first_known: date | None  # first as-of date with evidence known (any status but pending / at risk / lacking)


def at_risk_from(schedules: Mapping[Key, Schedule], share: float) -> dict[Key, date]:
    """The first as-of date each instance reads at risk before its due date, were its warning point `share`.

    The deliverable rule (int_deliverables_judged): at risk from the warning point,
    `opens + ceil(share x (due - opens))` (int_commitment_instances_scheduled), while no
    evidence is known. The benchmark checks this against the status mart built at the
    default share and reports any instance where they differ.
    """
    out = {}
    for key, s in schedules.items():
        warn = s.opens + timedelta(days=math.ceil(round(share * (s.due - s.opens).days, 9)))
        if warn < s.due and (s.first_known is None or warn < s.first_known):
            out[key] = warn
    return out


def _history(url: str, start: date, end: date, *, burn: bool = True
             ) -> tuple[dict[Key, date], dict[Key, Schedule], dict[Key, date]]:
    """From the status mart: the first at-risk date before due, the schedules of deliverable and recurring
    instances, and the first burn-rate alert (if `burn`), per instance."""
    from partnerops.alerts.rules import burn_rate
    from partnerops.alerts.status import load_status_rows
    from partnerops.db import connect

    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select agreement_id, commitment_id, instance_key, min(as_of_date)
                         from marts.commitment_statuses
                        where status = 'at_risk' and as_of_date < due_date and as_of_date between %s and %s
                        group by 1, 2, 3""", (start, end))
        at_risk = {(a, c, k): d for a, c, k, d in cur.fetchall()}
        cur.execute("""select agreement_id, commitment_id, instance_key, min(opens_date), min(due_date),
                              min(as_of_date) filter (where evidence_count > 0)
                         from marts.commitment_statuses
                        where kind in ('deliverable', 'recurring') and status <> 'superseded'
                          and as_of_date between %s and %s
                        group by 1, 2, 3""", (start, end))
        schedules = {(a, c, k): Schedule(o, d, f) for a, c, k, o, d, f in cur.fetchall()}
        alerts: dict[Key, date] = {}
        day = start
        while burn and day <= end:
            for row in load_status_rows(cur, day):
                if row.kind in ("quota", "threshold") and row.instance not in alerts and burn_rate(row, day):
                    alerts[row.instance] = day
            day += timedelta(days=1)
    return at_risk, schedules, alerts


@dataclass
class BenchResult:
    figures: dict[float, WarningFigures]
    best: float
    built_share: float
    rule_mismatches: int  # instances where the derived at-risk date differs from the mart's at the built share
    instances: int
    seconds: dict[str, float]


def run_bench_warning(*, brands: int = 40, scale: float = 0.002, year: int = 2026,
                      shares: Sequence[float] = SWEEP_SHARES, lead_days: int = LEAD_DAYS, seed: int = 2015,
                      workdir: Path | None = None, database: str | None = None) -> BenchResult:
    """Simulate, load and replay a year; the figures per warning point, and the best.

    With `workdir` and `database` the run can be resumed (files already simulated and loaded are
    kept, the database is not dropped); without, both are throwaway.
    """
    import os
    import shutil
    import tempfile

    from partnerops.agreements.model import DEFAULT_WARNING_ELAPSED_SHARE
    from partnerops.agreements.sample import write_sample_corpus
    from partnerops.calendar import ensure_calendar
    from partnerops.db import create_database, database_url, drop_database, with_database
    from partnerops.dbt import run_dbt
    from partnerops.evidence.feeds import FEED_NAMES
    from partnerops.evidence.ground_truth import read_ground_truth
    from partnerops.evidence.load import load_files, pending_files
    from partnerops.evidence.simulate import agreements_from_database, simulate
    from partnerops.intake import run_intake
    from partnerops.migrations import upgrade
    from partnerops.settings import get_settings

    settings = get_settings()
    server = database_url(settings)
    name = database or f"partnerops_bench_warning_{os.getpid()}"
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-warning-"))
    create_database(server, name, exist_ok=database is not None)
    url = with_database(server, name)
    clock = time.monotonic()
    seconds: dict[str, float] = {}

    def step(label: str, started: float, msg: str) -> None:
        seconds[label] = time.monotonic() - started
        print(f"[{time.monotonic() - clock:6.1f} s] {msg} ({seconds[label]:.1f} s)", flush=True)

    try:
        t = time.monotonic()
        upgrade(url)
        corpus = work / "agreements"
        write_sample_corpus(corpus, brands=brands, groups=max(1, brands * 110 // 160), seed=seed, year=year)
        run_intake([corpus], database_url=url, triggered_by="bench-warning", settings=settings)
        ensure_calendar(url)
        agreements = agreements_from_database(url)
        term_start = min(a.term_start for a in agreements)
        term_end = max(a.term_end for a in agreements)
        replay_end = term_end + timedelta(days=20)  # late deliveries and breaches after the term's last dues
        truth_path = work / "ground_truth.csv"
        if not truth_path.exists():
            simulated = simulate(agreements, start=term_start, end=replay_end, out=work / "inbox", seed=seed,
                                 scale=scale, ground_truth=truth_path)
            step("simulate", t, simulated.summary())
        t = time.monotonic()
        files = [f.path for feed in FEED_NAMES
                 for f in pending_files(work / "inbox" / feed, feed, url, up_to=replay_end)]
        step("load", t, load_files(files, database_url=url, triggered_by="bench-warning").summary())
        t = time.monotonic()
        run_dbt(["seed", "--quiet"], url=url, capture=True, target_path=work / "target")
        run_dbt(["run", "--full-refresh", "--quiet", "--select", "+commitment_statuses", "+commitments"],
                as_of=replay_end, url=url, vars={"history_start": term_start.isoformat()}, capture=True,
                target_path=work / "target")
        step("dbt", t, f"status mart built for every as-of date {term_start}..{replay_end} (one full refresh)")
        t = time.monotonic()
        built_at_risk, schedules, burn = _history(url, term_start, replay_end)
        truth = read_ground_truth(truth_path)
        built = DEFAULT_WARNING_ELAPSED_SHARE
        derived = at_risk_from(schedules, built)
        mismatches = sum(derived.get(k) != built_at_risk.get(k) for k in schedules)
        figures = {share: early_warning(truth, at_risk_from(schedules, share) if share != built else built_at_risk,
                                        burn, replay_end=replay_end, lead_days=lead_days)
                   for share in sorted({*shares, built})}
        step("figures", t, f"replayed {(replay_end - term_start).days + 1} as-of dates; "
             f"{mismatches} of {len(schedules)} at-risk dates derived for the sweep differ from the mart's")
        return BenchResult(figures, best_share(figures), built, mismatches, len(schedules), seconds)
    finally:
        if database is None:
            drop_database(server, name)
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)

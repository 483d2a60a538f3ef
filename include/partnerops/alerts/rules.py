"""The SLA alert rules: which alerts an instance's status raises as of a date.

Every rule is a pure function of one `StatusRow` (and, for some, the as-of date and
whether an account manager recorded a decision). An alert's key is (agreement,
commitment, instance, rule): the ledger keeps one alert per key, ever, so a rule that
holds for many days (an instance staying at risk) still sends one alert.

| rule | fires when |
|---|---|
| `window_50pct`, `window_75pct` | an open deliverable or quota instance has used 50 % (75 %) of its window, |
|   | from its opening to its due date (a quota's: its term), and is not delivered (a quota: its |
|   | progress is below that share of its target); only the highest share reached fires. The |
|   | shares are `AlertSettings.window_warning_shares` (`PARTNEROPS_ALERTS_WINDOW_WARNINGS`) |
| `at_risk` | the instance is `at_risk` (the first run that sees it: "entering at risk") |
| `breached` | the instance is `breached` |
| `due_in_7_days` | an open instance is due within the next 7 days (T-7 .. T-1) |
| `due_today` | an open instance is due on the as-of date |
| `breach_open_7_days` | still `breached` 7 days or more after the breach, and no decision recorded |
| `burn_rate` | at its current rate, a threshold commitment would use up its error budget, or a quota |
|   | commitment miss its target, before the term ends |
| `escalated` | raised by routing, not here: see `partnerops.alerts.routing` |
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from partnerops.alerts.status import StatusRow

REMINDER_DAYS_BEFORE = 7
BREACH_OPEN_DAYS_AFTER = 7

#: Open statuses that get due-date reminders (paused and excused instances are blocked by the other side).
REMINDED_STATUSES = frozenset({"pending", "on_track", "at_risk"})
BURN_RATE_KINDS = frozenset({"quota", "threshold"})

#: The kinds whose instances get warnings at shares of their window.
WINDOW_KINDS = frozenset({"deliverable", "quota"})
#: The default shares of the window at which an open instance is warned about.
WINDOW_WARNING_SHARES = (0.5, 0.75)

#: The rules with a fixed name, in the order summaries list them (window rules come first).
RULES = ("at_risk", "breached", "due_in_7_days", "due_today", "breach_open_7_days", "burn_rate", "escalated")

RULE_TITLES = {
    "at_risk": "At risk",
    "breached": "Breached",
    "due_in_7_days": "Due within 7 days",
    "due_today": "Due today",
    "breach_open_7_days": "Breach still open after 7 days",
    "burn_rate": "Burn-rate warning",
    "escalated": "Escalated: no decision recorded",
}


def window_rule(share: float) -> str:
    """The rule (and alert key) of the warning at `share` of the window: 0.5 -> 'window_50pct'."""
    return f"window_{round(share * 100)}pct"


def window_share_of(rule: str) -> float | None:
    """The share a window rule stands for ('window_75pct' -> 0.75); None for the other rules."""
    if rule.startswith("window_") and rule.endswith("pct") and rule[7:-3].isdigit():
        return int(rule[7:-3]) / 100
    return None


def rule_title(rule: str) -> str:
    """The short title of a rule, for subjects and summaries."""
    share = window_share_of(rule)
    return f"{share:.0%} of the window used" if share is not None else RULE_TITLES[rule]


def rule_order(rule: str) -> tuple[int, str]:
    """Where a rule sorts in summaries (window rules by their share)."""
    return (-1 if window_share_of(rule) is not None else RULES.index(rule), rule)


@dataclass(frozen=True)
class BurnRate:
    """How fast a commitment uses up what it may miss: 1.0 uses it exactly by the term's end."""

    rate: float
    elapsed_share: float
    explanation: str


@dataclass(frozen=True)
class RuleHit:
    rule: str
    burn: BurnRate | None = None


def _is_reminded(row: StatusRow) -> bool:
    return row.status in REMINDED_STATUSES and row.due_date is not None


def at_risk(row: StatusRow) -> bool:
    return row.status == "at_risk"


def breached(row: StatusRow) -> bool:
    return row.status == "breached"


def due_in_7_days(row: StatusRow, as_of: date) -> bool:
    if not _is_reminded(row):
        return False
    assert row.due_date is not None
    return row.due_date - timedelta(days=REMINDER_DAYS_BEFORE) <= as_of < row.due_date


def due_today(row: StatusRow, as_of: date) -> bool:
    return _is_reminded(row) and row.due_date == as_of


def window_warning(row: StatusRow, as_of: date, shares: tuple[float, ...] = WINDOW_WARNING_SHARES
                   ) -> float | None:
    """The highest of `shares` of its window an open, undelivered instance has used as of `as_of`.

    The window runs from `opens_date` to `due_date`; the point at share s is
    `opens_date + ceil(s × days)`, as the status mart's `warning_date`. A quota counts as
    undelivered while its progress is below that share of its target. None when no share is
    reached, the window is over, or the instance is delivered or blocked.
    """
    if row.kind not in WINDOW_KINDS or not _is_reminded(row) or row.opens_date is None:
        return None
    assert row.due_date is not None
    if not row.opens_date <= as_of <= row.due_date:
        return None
    days = (row.due_date - row.opens_date).days
    reached = [s for s in shares if as_of >= row.opens_date + timedelta(days=math.ceil(s * days))]
    if not reached:
        return None
    share = max(reached)
    if row.kind == "quota":
        if row.quota_target is None or row.quota_progress is None or row.quota_target <= 0:
            return None
        if row.quota_progress >= share * row.quota_target:
            return None  # on pace for this point of the window
    return share


def breach_open_7_days(row: StatusRow, as_of: date, decided: bool) -> bool:
    """Still breached a week after the breach (its breach date, else its due date), undecided."""
    since = row.breach_date or row.due_date
    if row.status != "breached" or decided or since is None:
        return False
    return as_of >= since + timedelta(days=BREACH_OPEN_DAYS_AFTER)


# -- burn rate ----------------------------------------------------------------------------------

def term_elapsed_share(row: StatusRow, as_of: date) -> float | None:
    """Share of the term elapsed at the end of `as_of` (0..1), or None without a term."""
    if row.term_start is None or row.term_end is None:
        return None
    days = (row.term_end - row.term_start).days + 1
    elapsed = (as_of - row.term_start).days + 1
    return min(1.0, max(0.0, elapsed / days))


def threshold_burn_rate(row: StatusRow) -> BurnRate | None:
    """Projected non-compliant windows over the term divided by the error budget.

    Google SRE's burn rate: the miss rate so far (missed / judged windows), carried over
    every window of the term, against the windows the term may miss. Above 1.0 the budget
    runs out before the term ends.
    """
    judged, missed, total, budget = row.windows_judged, row.windows_missed, row.windows_total, row.error_budget
    if not judged or not total or missed is None or budget is None or judged <= 0 or total <= 0:
        return None
    projected = missed / judged * total
    rate = projected / budget if budget > 0 else (math.inf if missed > 0 else 0.0)
    return BurnRate(rate, judged / total,
                    f"{missed} of {judged} windows missed so far; at this rate about {projected:.1f} of "
                    f"{total} windows will miss, against an error budget of {budget}")


def quota_burn_rate(row: StatusRow, as_of: date) -> BurnRate | None:
    """The target divided by the total the current pace reaches by the term's end.

    The pace is progress per elapsed share of the term, or per `quota_expected_share`
    (the plan curve's share of the target due by now) when the mart gives it. Above 1.0
    the current pace misses the target.
    """
    target, progress = row.quota_target, row.quota_progress
    elapsed = term_elapsed_share(row, as_of)
    share = row.quota_expected_share if row.quota_expected_share is not None else elapsed
    if target is None or progress is None or share is None or elapsed is None or target <= 0:
        return None
    if progress >= target or elapsed >= 1.0:
        return None  # delivered, or the term is over: the status says so
    projected = progress / share if share > 0 else math.inf
    rate = target / projected if projected > 0 else math.inf
    return BurnRate(rate, elapsed,
                    f"{progress:g} of {target:g} so far; at this pace about {projected:.1f} by the end of the term")


def burn_rate(row: StatusRow, as_of: date, *, threshold: float = 1.0, min_elapsed_share: float = 0.25
              ) -> BurnRate | None:
    """The burn rate when it exceeds `threshold` on an open quota or threshold commitment."""
    if row.kind not in BURN_RATE_KINDS or row.status not in REMINDED_STATUSES:
        return None
    burn = threshold_burn_rate(row) if row.kind == "threshold" else quota_burn_rate(row, as_of)
    if burn is None or burn.elapsed_share < min_elapsed_share or not burn.rate > threshold:
        return None
    return burn


# -- all rules ----------------------------------------------------------------------------------

def evaluate(row: StatusRow, as_of: date, *, decided: bool = False, burn_threshold: float = 1.0,
             burn_min_elapsed_share: float = 0.25, window_shares: tuple[float, ...] = WINDOW_WARNING_SHARES
             ) -> list[RuleHit]:
    """The rules `row` meets as of `as_of` (the ledger decides which are new)."""
    simple: list[tuple[str, Callable[[], bool]]] = [
        ("at_risk", lambda: at_risk(row)),
        ("breached", lambda: breached(row)),
        ("due_in_7_days", lambda: due_in_7_days(row, as_of)),
        ("due_today", lambda: due_today(row, as_of)),
        ("breach_open_7_days", lambda: breach_open_7_days(row, as_of, decided)),
    ]
    hits = [RuleHit(rule) for rule, holds in simple if holds()]
    share = window_warning(row, as_of, window_shares)
    if share is not None:
        hits.insert(0, RuleHit(window_rule(share)))
    burn = burn_rate(row, as_of, threshold=burn_threshold, min_elapsed_share=burn_min_elapsed_share)
    if burn is not None:
        hits.append(RuleHit("burn_rate", burn))
    return hits

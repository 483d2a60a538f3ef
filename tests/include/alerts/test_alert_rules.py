"""The alert rules at their edges (pure functions, no database)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

import pytest

from partnerops.alerts.routing import needs_escalation, route, targets, webhook_label
from partnerops.alerts.rules import burn_rate, evaluate, quota_burn_rate, threshold_burn_rate
from partnerops.alerts.status import AgreementContacts, Contact, StatusRow

DUE = date(2026, 6, 30)
ROW = StatusRow(agreement_id="A", commitment_id="C", instance_key="term", as_of_date=DUE, status="pending",
                kind="deliverable", pillar="marketing", obligor="brand", commitment_title="Launch", due_date=DUE,
                weight=2, term_start=date(2026, 1, 1), term_end=date(2026, 12, 31))


def rules(row: StatusRow, as_of: date, **kw) -> list[str]:
    return [h.rule for h in evaluate(replace(row, as_of_date=as_of), as_of, **kw)]


@pytest.mark.parametrize(("days_before", "expected"), [
    (8, []), (7, ["due_in_7_days"]), (1, ["due_in_7_days"]), (0, ["due_today"]), (-1, [])])
def test_reminders_from_t_minus_7_to_the_due_day(days_before: int, expected: list[str]):
    assert rules(ROW, DUE - timedelta(days=days_before)) == expected


@pytest.mark.parametrize("status", ["paused", "excused", "delivered", "waived", "insufficient_data", "superseded"])
def test_no_reminders_for_blocked_terminal_or_unknown_instances(status: str):
    assert rules(replace(ROW, status=status), DUE) == []


def test_at_risk_instance_gets_both_at_risk_and_its_reminder():
    assert rules(replace(ROW, status="at_risk"), DUE - timedelta(days=3)) == ["at_risk", "due_in_7_days"]


def test_insufficient_data_never_reads_as_a_breach():
    assert rules(replace(ROW, status="insufficient_data"), DUE + timedelta(days=30)) == []


@pytest.mark.parametrize(("days_after", "decided", "expected"), [
    (6, False, ["breached"]), (7, False, ["breached", "breach_open_7_days"]), (7, True, ["breached"])])
def test_breach_still_open_seven_days_after_the_breach_date(days_after: int, decided: bool, expected: list[str]):
    breached = replace(ROW, status="breached", breach_date=DUE + timedelta(days=2))
    assert rules(breached, DUE + timedelta(days=2 + days_after), decided=decided) == expected


def test_breach_open_falls_back_to_the_due_date():
    assert "breach_open_7_days" in rules(replace(ROW, status="breached"), DUE + timedelta(days=7))


THRESHOLD = replace(ROW, kind="threshold", status="on_track", due_date=date(2026, 12, 31), windows_total=12,
                    windows_judged=4, windows_missed=1, error_budget=3)


def test_threshold_burn_rate_is_projected_misses_over_the_budget():
    assert threshold_burn_rate(THRESHOLD).rate == pytest.approx(1.0)  # 1/4 * 12 = 3 = the budget
    assert threshold_burn_rate(replace(THRESHOLD, windows_missed=2)).rate == pytest.approx(2.0)
    assert threshold_burn_rate(replace(THRESHOLD, error_budget=0)).rate == math.inf
    assert threshold_burn_rate(replace(THRESHOLD, windows_judged=0)) is None


def test_burn_rate_fires_strictly_above_the_threshold_and_after_the_minimum_elapsed_share():
    as_of = date(2026, 5, 1)
    assert burn_rate(THRESHOLD, as_of) is None  # exactly 1.0: the budget lasts the term
    assert burn_rate(replace(THRESHOLD, windows_missed=2), as_of) is not None
    early = replace(THRESHOLD, windows_judged=2, windows_missed=1)  # 2 of 12 windows judged < 25 %
    assert burn_rate(early, as_of) is None
    assert burn_rate(early, as_of, min_elapsed_share=0.1) is not None
    assert burn_rate(replace(THRESHOLD, windows_missed=2, status="breached"), as_of) is None


QUOTA = replace(ROW, kind="quota", status="on_track", due_date=date(2026, 12, 31), quota_target=4,
                quota_progress=1)


def test_quota_burn_rate_is_the_target_over_the_projected_total():
    mid = date(2026, 7, 2)  # 183 of 365 days
    assert quota_burn_rate(QUOTA, mid).rate == pytest.approx(4 / (1 / (183 / 365)))
    assert burn_rate(replace(QUOTA, quota_progress=2), mid - timedelta(days=1)) is None  # just ahead of pace
    assert burn_rate(replace(QUOTA, quota_progress=2), mid) is not None  # just behind it
    assert burn_rate(QUOTA, mid) is not None
    assert quota_burn_rate(replace(QUOTA, quota_progress=0), mid).rate == math.inf
    assert quota_burn_rate(replace(QUOTA, quota_progress=4), mid) is None  # delivered
    assert quota_burn_rate(QUOTA, date(2027, 1, 1)) is None  # the term is over


def test_quota_burn_rate_follows_the_plan_curve_when_the_mart_gives_it():
    seasonal = replace(QUOTA, quota_progress=1, quota_expected_share=0.2)  # the plan expects 0.8 by now
    assert quota_burn_rate(seasonal, date(2026, 7, 2)).rate == pytest.approx(0.8)


def test_burn_rate_only_for_quota_and_threshold():
    assert burn_rate(replace(QUOTA, kind="deliverable"), date(2026, 7, 2)) is None


CONTACTS = AgreementContacts("A", "T", "Brand", "Group", Contact("Ann", "am@x.com"),
                             (Contact("Lead", "lead@x.com"), Contact("Ann again", "AM@x.com")))


def test_routing_and_escalation_recipients():
    kw = {"at_once_weight": 3, "escalate_after_hours": 48}
    assert [p.email for p in route("at_risk", ROW, CONTACTS, **kw).people] == ["am@x.com"]
    assert [p.email for p in route("breached", ROW, CONTACTS, **kw).people] == ["am@x.com"]
    heavy = route("breached", replace(ROW, weight=3), CONTACTS, **kw)
    assert heavy.escalated and [p.email for p in heavy.people] == ["am@x.com", "lead@x.com"]  # deduplicated
    escalated = route("escalated", ROW, CONTACTS, **kw)
    assert escalated.escalated and [p.email for p in escalated.people] == ["lead@x.com", "AM@x.com"]  # first kept


def test_needs_escalation_edges():
    from datetime import UTC, datetime

    first = datetime(2026, 6, 1, tzinfo=UTC)
    at_risk = replace(ROW, status="at_risk")
    kw = {"first_alert_at": first, "already_escalated": False, "decided": False, "escalate_after_hours": 48}
    assert not needs_escalation(at_risk, now=first + timedelta(hours=47, minutes=59), **kw)
    assert needs_escalation(at_risk, now=first + timedelta(hours=48), **kw)
    assert not needs_escalation(at_risk, now=first + timedelta(days=9), **{**kw, "decided": True})
    assert not needs_escalation(at_risk, now=first + timedelta(days=9), **{**kw, "already_escalated": True})
    assert not needs_escalation(replace(ROW, status="waived"), now=first + timedelta(days=9), **kw)


def test_targets_never_store_the_webhook_secret():
    url = "https://hooks.example.com/services/T0/B0/s3cr3t"
    out = targets(route("at_risk", ROW, CONTACTS, at_once_weight=3, escalate_after_hours=48), email=True,
                  webhook_url=url)
    assert [t.channel for t in out] == ["email", "webhook"]
    assert "s3cr3t" not in webhook_label(url) and webhook_label(url) != webhook_label(url + "x")


# -- warnings at shares of the window -----------------------------------------------------------

OPENS = date(2026, 6, 1)  # window 2026-06-01 .. 06-30: 29 days; 50 % on 06-16 (+15), 75 % on 06-23 (+22)
WINDOWED = replace(ROW, opens_date=OPENS)


@pytest.mark.parametrize(("as_of", "expected"), [
    (date(2026, 5, 31), []),
    (date(2026, 6, 15), []),
    (date(2026, 6, 16), ["window_50pct"]),
    (date(2026, 6, 22), ["window_50pct"]),
    (date(2026, 6, 23), ["window_75pct", "due_in_7_days"]),  # only the highest share reached
    (date(2026, 6, 30), ["window_75pct", "due_today"]),
    (date(2026, 7, 1), []),  # the window is over: the status says the rest
])
def test_a_deliverable_is_warned_at_half_and_three_quarters_of_its_window(as_of: date, expected: list[str]):
    assert rules(WINDOWED, as_of) == expected


@pytest.mark.parametrize("status", ["delivered", "delivered_late", "breached", "paused", "excused", "waived"])
def test_no_window_warning_once_delivered_or_blocked(status: str):
    assert not any(r.startswith("window_") for r in rules(replace(WINDOWED, status=status), date(2026, 6, 25)))


def test_window_warnings_are_configurable():
    assert rules(WINDOWED, date(2026, 6, 23), window_shares=(0.9,)) == ["due_in_7_days"]
    # 0.9 × 29 days = 26.1 -> day 27: 2026-06-28
    assert rules(WINDOWED, date(2026, 6, 28), window_shares=(0.9,)) == ["window_90pct", "due_in_7_days"]
    assert rules(WINDOWED, date(2026, 6, 28), window_shares=()) == ["due_in_7_days"]


def test_a_quota_is_warned_only_while_behind_that_share_of_its_target():
    quota = replace(ROW, kind="quota", status="on_track", opens_date=date(2026, 1, 1), due_date=date(2026, 12, 31),
                    quota_target=100.0, quota_progress=40.0)
    halfway = date(2026, 1, 1) + timedelta(days=math.ceil(0.5 * 364))  # 2026-07-02

    def window(row: StatusRow, as_of: date) -> list[str]:  # the burn rate has its own tests
        return [r for r in rules(row, as_of) if r.startswith("window_")]

    assert window(quota, halfway - timedelta(days=1)) == []
    assert window(quota, halfway) == ["window_50pct"]
    assert window(replace(quota, quota_progress=50.0), halfway) == []  # on pace for half the term
    assert window(replace(quota, quota_progress=None), halfway) == []  # no measure, no claim


def test_recurring_and_threshold_instances_get_no_window_warning():
    for kind in ("recurring", "threshold"):
        assert not any(r.startswith("window_") for r in rules(replace(WINDOWED, kind=kind), date(2026, 6, 25)))

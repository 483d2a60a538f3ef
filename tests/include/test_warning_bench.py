"""The early-warning figures against the ground truth (pure functions of partnerops.warning_bench)."""

from __future__ import annotations

from datetime import date

from partnerops.warning_bench import Schedule, WarningFigures, at_risk_from, best_share, early_warning, render_table

D = date.fromisoformat
END = D("2026-12-31")


def _truth(commitment: str, fate: str, due: str, opens: str = "2026-01-01", kind: str = "deliverable") -> dict:
    return {"agreement_id": "A", "commitment_id": commitment, "instance_key": "term", "kind": kind, "fate": fate,
            "opens_date": opens, "due_date": due}


def _key(commitment: str) -> tuple[str, str, str]:
    return ("A", commitment, "term")


def test_misses_flagged_ahead_lead_and_precision():
    truth = [
        _truth("missed-early", "missed", "2026-03-01"),  # flagged 10 days ahead
        _truth("late-flagged-late", "late", "2026-03-01"),  # flagged 2 days ahead
        _truth("missed-unflagged", "missed", "2026-03-01"),
        _truth("missed-short-window", "missed", "2026-03-05", opens="2026-03-01"),  # 4-day window, flagged 1 d ahead
        _truth("on-time-flagged", "on_time", "2026-03-01"),  # a false alarm
        _truth("on-time-quiet", "on_time", "2026-03-01"),
        _truth("flagged-on-due", "missed", "2026-03-01"),  # flagged on the due date: too late to count
        _truth("due-after-replay", "missed", "2027-02-01"),  # fate not known within the replay: ignored
    ]
    flags = {_key("missed-early"): D("2026-02-19"), _key("late-flagged-late"): D("2026-02-27"),
             _key("missed-short-window"): D("2026-03-04"), _key("on-time-flagged"): D("2026-02-20"),
             _key("flagged-on-due"): D("2026-03-01"), _key("due-after-replay"): D("2026-12-01")}
    f = early_warning(truth, flags, {}, replay_end=END)
    assert (f.misses, f.flagged_before_due, f.lead_eligible, f.flagged_lead_ahead) == (5, 3, 4, 1)
    assert f.recall == 3 / 5 and f.recall_lead == 1 / 4
    assert f.median_lead_days == 2  # leads 10, 2 and 1
    assert (f.flagged, f.flagged_bad) == (4, 3) and f.precision == 3 / 4
    assert f.burn_recall is None and f.burn_precision is None


def test_burn_rate_recall_and_precision_on_quotas_and_thresholds():
    truth = [_truth("q-missed", "missed", "2026-12-31", kind="quota"),
             _truth("t-missed", "missed", "2026-12-31", kind="threshold"),
             _truth("t-fine", "on_time", "2026-12-31", kind="threshold"),
             _truth("t-fine-quiet", "on_time", "2026-12-31", kind="threshold"),
             _truth("d-missed", "missed", "2026-06-01")]  # a deliverable never counts for the burn rate
    burn = {_key("q-missed"): D("2026-07-01"), _key("t-fine"): D("2026-05-01"), _key("d-missed"): D("2026-05-01")}
    f = early_warning(truth, {}, burn, replay_end=END)
    assert (f.burn_misses, f.burn_alerts, f.burn_alerts_bad) == (2, 2, 1)
    assert f.burn_recall == 0.5 and f.burn_precision == 0.5


def _figures(recall_lead_hits: int, flagged: int, flagged_bad: int) -> WarningFigures:
    return WarningFigures(misses=10, flagged_before_due=10, lead_eligible=10, flagged_lead_ahead=recall_lead_hits,
                          median_lead_days=7, flagged=flagged, flagged_bad=flagged_bad, burn_misses=0, burn_alerts=0,
                          burn_alerts_bad=0)


def test_the_best_share_balances_warning_ahead_and_precision():
    figures = {0.5: _figures(10, 100, 10),  # every miss ahead, 10 % precise
               0.75: _figures(8, 20, 9),  # 80 % ahead, 45 % precise: the best balance
               0.95: _figures(1, 10, 8)}  # precise, but too late
    assert best_share(figures) == 0.75
    table = render_table(figures, 0.75)
    assert "| 0.75 (default) | 10 | 100% | 80% | 7 | 45% (9/20)" in table
    assert table.count("(default)") == 1


def test_the_swept_warning_point_follows_the_deliverable_rule():
    schedules = {_key("quiet"): Schedule(D("2026-01-01"), D("2026-01-11"), None),  # 10-day window
                 _key("delivered-early"): Schedule(D("2026-01-01"), D("2026-01-11"), D("2026-01-05")),
                 _key("delivered-later"): Schedule(D("2026-01-01"), D("2026-01-11"), D("2026-01-10"))}
    assert at_risk_from(schedules, 0.75) == {_key("quiet"): D("2026-01-09"), _key("delivered-later"): D("2026-01-09")}
    assert at_risk_from(schedules, 0.5) == {_key("quiet"): D("2026-01-06"), _key("delivered-later"): D("2026-01-06")}
    assert at_risk_from(schedules, 0.85) == {_key("quiet"): D("2026-01-10")}
    assert at_risk_from(schedules, 0.95) == {}  # the warning point on the due date warns of nothing before it

"""The Partnerships view's pure helpers: status words and SVG charts (no database, no Airflow)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from partnerops.ui import charts
from partnerops.ui.words import plain_reason, status_rank, worst_status


def test_worst_status_orders_breaches_first():
    assert worst_status(["delivered", "at_risk", "pending"]) == "at_risk"
    assert worst_status(["on_track", "breached", "at_risk"]) == "breached"
    assert worst_status([]) is None
    assert status_rank("breached") < status_rank("insufficient_data") < status_rank("delivered")


def test_plain_reason_prefers_the_marts_reason_and_explains_the_rules_otherwise():
    assert plain_reason({"status": "waived", "status_reason": "waived by am: agreed"}) == "waived by am: agreed"
    quota = {"status": "at_risk", "kind": "quota", "progress_value": Decimal("3"), "progress_target": Decimal("4.25")}
    assert plain_reason(quota) == "3 counted of 4.2 expected by now"
    late = {"status": "breached", "kind": "deliverable", "breach_date": date(2026, 3, 20),
            "due_date": date(2026, 3, 18)}
    assert plain_reason(late) == "no evidence of delivery by the deadline 2026-03-20"
    threshold = {"status": "breached", "kind": "threshold", "progress_value": 3, "progress_target": 2}
    assert "3 non-compliant windows of an error budget of 2" == plain_reason(threshold)


def test_timeline_escapes_labels_and_spans_the_dates():
    svg = charts.timeline_chart(
        [("<script>x</script>", [{"status": "at_risk", "valid_from": date(2026, 3, 1), "valid_to": date(2026, 3, 10)},
                                 {"status": "breached", "valid_from": date(2026, 3, 10), "valid_to": None}])],
        date(2026, 3, 1), date(2026, 3, 31))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<rect") == 2 and 'class="st-breached"' in svg and "2026-03-31" in svg


def test_gmv_and_quota_charts():
    months = [{"pacing_month": date(2026, m, 1), "gmv_target_amount": Decimal("1200"),
               "planned_cumulative_gmv": Decimal(100 * m), "actual_cumulative_gmv": Decimal(90 * m) if m < 4 else None}
              for m in range(1, 13)]
    svg = charts.gmv_chart(months)
    assert svg.count('class="bar"') == 3 and 'class="plan"' in svg and 'class="target"' in svg
    assert "No GMV pacing" in charts.gmv_chart([])
    series = [{"as_of_date": date(2026, 5, d), "progress_value": d, "progress_target": 2 * d} for d in (1, 5, 9)]
    assert charts.quota_chart(series).count("<polyline") == 2
    assert "one date so far" in charts.quota_chart(series[:1])

"""Inline SVG charts for the Partnerships view: no script, no external asset.

Each function returns `Markup` built from escaped text, so a brand or commitment name
cannot inject markup. Colours come from the page's stylesheet (classes `st-<status>`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from partnerops.ui.words import STATUS_LABELS

__all__ = ["gmv_chart", "quota_chart", "timeline_chart"]


def _f(value: float) -> str:
    return f"{value:.1f}"


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float | Decimal) else 0.0


def timeline_chart(lanes: Sequence[tuple[str, Sequence[dict[str, Any]]]], start: date, end: date,
                   width: int = 900) -> Markup:
    """One lane per commitment instance, coloured by status over time (spells from the status history)."""
    label_w, lane_h, top = 260, 18, 22
    span = max((end - start).days + 1, 1)
    plot_w = width - label_w - 10
    height = top + lane_h * len(lanes) + 6

    def x(d: date) -> float:
        return label_w + plot_w * min(max((d - start).days, 0), span) / span

    parts = [f'<svg class="chart timeline" role="img" aria-label="Status timeline" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i in range(0, 5):
        d = start + timedelta(days=round((span - 1) * i / 4))
        parts.append(f'<text class="axis" x="{_f(x(d))}" y="12" text-anchor="middle">{escape(d.isoformat())}</text>')
    for n, (label, spells) in enumerate(lanes):
        y = top + n * lane_h
        parts.append(f'<text class="lane" x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(label)}</text>')
        for spell in spells:
            s_from: date = spell["valid_from"]
            s_to: date = min(spell["valid_to"] or end + timedelta(days=1), end + timedelta(days=1))
            if s_to <= start:
                continue
            x0, x1 = x(max(s_from, start)), x(s_to)
            status = str(spell["status"])
            title = f"{label}: {STATUS_LABELS.get(status, status)} from {s_from}" + (
                f" to {spell['valid_to']}" if spell["valid_to"] else "")
            parts.append(f'<rect class="st-{escape(status)}" x="{_f(x0)}" y="{y + 2}" width="{_f(max(x1 - x0, 2))}" '
                         f'height="{lane_h - 4}"><title>{escape(title)}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def gmv_chart(months: Sequence[dict[str, Any]], width: int = 640, height: int = 220) -> Markup:
    """Cumulative GMV by month (bars) against the cumulative plan curve (line) and the target (dashed)."""
    if not months:
        return Markup('<p class="muted">No GMV pacing for this date.</p>')
    left, right, top, bottom = 70, 10, 10, 30
    target = _num(months[0].get("gmv_target_amount"))
    peak = max([target] + [_num(m.get("actual_cumulative_gmv")) for m in months]
               + [_num(m.get("planned_cumulative_gmv")) for m in months]) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / len(months)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / peak)

    parts = [f'<svg class="chart gmv" role="img" aria-label="GMV against plan" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for frac in (0, 0.5, 1):
        v = peak * frac
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_f(y(v))}" y2="{_f(y(v))}"/>'
                     f'<text class="axis" x="{left - 4}" y="{_f(y(v) + 4)}" text-anchor="end">{_short(v)}</text>')
    points = []
    for i, m in enumerate(months):
        cx = left + step * i
        actual = m.get("actual_cumulative_gmv")
        if actual is not None:
            h = plot_h * _num(actual) / peak
            parts.append(f'<rect class="bar" x="{_f(cx + step * 0.15)}" y="{_f(top + plot_h - h)}" '
                         f'width="{_f(step * 0.7)}" height="{_f(h)}"><title>{escape(str(m["pacing_month"])[:7])}: '
                         f'{_short(_num(actual))} to date</title></rect>')
        points.append(f"{_f(cx + step / 2)},{_f(y(_num(m.get('planned_cumulative_gmv'))))}")
        parts.append(f'<text class="axis" x="{_f(cx + step / 2)}" y="{height - 12}" text-anchor="middle">'
                     f'{escape(str(m["pacing_month"])[5:7])}</text>')
    parts.append(f'<polyline class="plan" fill="none" points="{" ".join(points)}"/>')
    parts.append(f'<line class="target" x1="{left}" x2="{width - right}" y1="{_f(y(target))}" y2="{_f(y(target))}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def quota_chart(series: Sequence[dict[str, Any]], width: int = 420, height: int = 140) -> Markup:
    """A quota's count so far (solid) against the count expected by then on its pace (dashed), by as-of date."""
    if len(series) < 2:
        v = series[0] if series else {}
        return Markup(f'<span class="muted">{escape(_short(_num(v.get("progress_value"))))} of '
                      f'{escape(_short(_num(v.get("progress_target"))))} expected (one date so far)</span>')
    left, right, top, bottom = 40, 8, 8, 20
    peak = max(max(_num(p.get("progress_value")), _num(p.get("progress_target"))) for p in series) or 1.0
    first, last = series[0]["as_of_date"], series[-1]["as_of_date"]
    span = max((last - first).days, 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def pt(p: dict[str, Any], key: str) -> str:
        return (f"{_f(left + plot_w * (p['as_of_date'] - first).days / span)},"
                f"{_f(top + plot_h * (1 - _num(p.get(key)) / peak))}")

    return Markup(
        f'<svg class="chart quota" role="img" aria-label="Quota pace" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text class="axis" x="{left - 4}" y="{top + 8}" text-anchor="end">{_short(peak)}</text>'
        f'<text class="axis" x="{left}" y="{height - 4}">{escape(first.isoformat())}</text>'
        f'<text class="axis" x="{width - right}" y="{height - 4}" text-anchor="end">{escape(last.isoformat())}</text>'
        f'<polyline class="plan" fill="none" points="{" ".join(pt(p, "progress_target") for p in series)}"/>'
        f'<polyline class="actual" fill="none" points="{" ".join(pt(p, "progress_value") for p in series)}"/>'
        "</svg>"
    )


def _short(value: float) -> str:
    """1234567 -> 1.23M; the charts' axis labels."""
    for size, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"

"""The as-of date, decided in one place (partnerops.as_of) for the CLI, the demo and every DAG."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from partnerops import as_of
from partnerops.assets import TRACKING


def _run(conf=None, logical_date=None, run_after=None):
    return SimpleNamespace(conf=conf or {}, logical_date=logical_date, run_after=run_after, run_id="r1")


def _event(value: str | None) -> SimpleNamespace:
    return SimpleNamespace(extra={"as_of": value} if value else {})


def test_today_is_read_on_the_ops_clock():
    # 16:00 UTC on 30 March is already 31 March in the feed time zone (UTC+8).
    assert as_of.today(datetime(2026, 3, 30, 16, 0, tzinfo=UTC)) == date(2026, 3, 31)
    assert as_of.today(datetime(2026, 3, 30, 15, 59, tzinfo=UTC)) == date(2026, 3, 30)
    with pytest.raises(ValueError, match="no time zone"):
        as_of.local_date(datetime(2026, 3, 30, 12))


def test_conf_comes_first():
    run = _run(conf={"as_of": "2026-02-14"}, logical_date=datetime(2026, 5, 1, tzinfo=UTC))
    assert as_of.for_run(run, {TRACKING: [_event("2026-04-01")]}) == date(2026, 2, 14)
    assert as_of.dates_for_run(run, {TRACKING: [_event("2026-04-01")]}) == [date(2026, 2, 14)]


def test_then_every_triggering_event_date_oldest_first():
    run = _run(run_after=datetime(2026, 6, 30, tzinfo=UTC))
    events = {TRACKING: [_event("2026-06-21"), _event("2026-06-19"), _event("2026-06-21"), _event(None)]}
    assert as_of.dates_for_run(run, events) == [date(2026, 6, 19), date(2026, 6, 21)]
    assert as_of.for_run(run, events) == date(2026, 6, 21)


def test_then_the_logical_date_or_the_queued_time_on_the_ops_clock():
    assert as_of.for_run(_run(logical_date=datetime(2026, 3, 30, 16, 0, tzinfo=UTC))) == date(2026, 3, 31)
    assert as_of.for_run(_run(run_after=datetime(2026, 6, 18, 20, 0, tzinfo=UTC))) == date(2026, 6, 19)
    # events without an as_of (evidence and intake events) do not change it
    assert as_of.for_run(_run(run_after=datetime(2026, 6, 18, 20, 0, tzinfo=UTC)), {TRACKING: [_event(None)]}) \
        == date(2026, 6, 19)


def test_a_bad_as_of_or_a_run_without_any_date_is_rejected():
    with pytest.raises(ValueError):
        as_of.for_run(_run(conf={"as_of": "31/03/2026"}))
    with pytest.raises(ValueError, match="no date"):
        as_of.for_run(_run())

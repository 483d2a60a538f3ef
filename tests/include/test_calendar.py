"""The business calendar: make-up working days, holidays, provisional years, and the table."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest

from partnerops.calendar import calendar_days, ensure_calendar, fill_calendar, parse_years
from partnerops.cli import main
from partnerops.errors import UserError


@pytest.fixture(scope="module")
def days_2026() -> dict[date, object]:
    return {d.calendar_date: d for d in calendar_days([2026])}


def test_makeup_saturday_is_a_working_day(days_2026):
    day = days_2026[date(2026, 2, 14)]  # Saturday before the Spring Festival, worked (调休)
    assert day.is_working_day and day.is_makeup_working_day and not day.is_provisional


def test_national_day_is_a_holiday(days_2026):
    day = days_2026[date(2026, 10, 1)]
    assert not day.is_working_day and day.holiday_name


def test_a_plain_saturday_is_not_a_working_day(days_2026):
    assert not days_2026[date(2026, 3, 7)].is_working_day
    assert days_2026[date(2026, 3, 9)].is_working_day  # a plain Monday


def test_every_day_of_the_year_once(days_2026):
    assert len(days_2026) == 365 and min(days_2026) == date(2026, 1, 1) and max(days_2026) == date(2026, 12, 31)


def test_a_year_without_official_schedule_is_provisional_but_knows_the_holidays():
    days = {d.calendar_date: d for d in calendar_days([2027, 2040])}
    assert days[date(2027, 10, 1)].is_provisional and not days[date(2027, 10, 1)].is_working_day
    assert days[date(2027, 2, 6)].holiday_name  # Spring Festival 2027, from the lunar calendar
    assert days[date(2040, 3, 5)].is_provisional and days[date(2040, 3, 5)].is_working_day
    assert not any(d.is_makeup_working_day for d in days.values())


def test_parse_years():
    assert parse_years("2025-2027") == [2025, 2026, 2027]
    assert parse_years("2027,2025") == [2025, 2027]
    with pytest.raises(UserError, match="cannot read the years"):
        parse_years("next year")


def _rows(url: str, sql: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def test_fill_is_idempotent_and_ensure_fills_term_years(db_url):
    assert fill_calendar(db_url, [2026]) == 365
    fill_calendar(db_url, [2026])
    assert _rows(db_url, "select count(*) from raw.business_calendar") == [(365,)]
    assert _rows(db_url, """select is_working_day from raw.business_calendar
                             where calendar_date = '2026-02-14'""") == [(True,)]
    filled = ensure_calendar(db_url, extra_years=[2027], today=date(2026, 12, 2))
    assert filled == [2027]
    assert ensure_calendar(db_url, today=date(2028, 1, 5)) == [2028]
    assert _rows(db_url, """select bool_and(is_provisional) from raw.business_calendar
                             where extract(year from calendar_date) = 2027""") == [(True,)]


def test_cli_calendar(project_env, capsys):
    assert main(["calendar", "--years", "2026-2027"]) == 0
    out = capsys.readouterr().out
    assert "2026: " in out and "official" in out and "2027: " in out and "provisional" in out

"""The business calendar: China's working days, with statutory holidays and make-up days (调休).

Due dates given in business days (`due_after: {business_days: 5}`, `grace: {business_days: 2}`)
count the days of `raw.business_calendar`, which this module fills from the maintained
`holidays` package. Each year's official schedule is published by the State Council late in
the year before; a year the package does not have it for yet is filled from weekends and the
statutory holidays alone (no make-up working days) and marked provisional, and the dbt
models flag the due dates that depend on it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import holidays

from partnerops.db import connect
from partnerops.errors import UserError

__all__ = ["CalendarDay", "REGION", "calendar_days", "ensure_calendar", "fill_calendar", "holidays_version",
           "official_years", "parse_years", "term_years"]

log = logging.getLogger(__name__)

REGION = "CN"
_SOURCE = f"holidays {holidays.__version__}"


@dataclass(frozen=True)
class CalendarDay:
    calendar_date: date
    is_working_day: bool
    is_makeup_working_day: bool
    holiday_name: str | None
    is_provisional: bool


def holidays_version() -> str:
    """The version of the `holidays` package the calendar comes from."""
    return holidays.__version__


def official_years() -> set[int]:
    """Years for which the package holds the official schedule (holidays and make-up days)."""
    from holidays.countries.china import ChinaStaticHolidays

    years = set(getattr(ChinaStaticHolidays, "special_public_holidays", {}) or {})
    years |= {d.year for d in holidays.China(years=range(2000, date.today().year + 3)).weekend_workdays}
    return years


def calendar_days(years: Iterable[int]) -> list[CalendarDay]:
    """Every date of `years`, in order, with its working-day status."""
    years = sorted(set(years))
    if not years:
        return []
    official = official_years()
    cn = holidays.China(years=years)
    out = []
    for year in years:
        day = date(year, 1, 1)
        while day.year == year:
            makeup = day in cn.weekend_workdays
            name = cn.get(day)
            out.append(CalendarDay(
                calendar_date=day,
                is_working_day=makeup or (day.weekday() < 5 and name is None),
                is_makeup_working_day=makeup,
                holiday_name=name,
                is_provisional=year not in official,
            ))
            day += timedelta(days=1)
    return out


def parse_years(text: str) -> list[int]:
    """`2026`, `2025-2027` or `2025,2027` as a list of years."""
    years: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d{4})(?:\s*-\s*(\d{4}))?", part)
        if not m:
            raise UserError(f"cannot read the years {text!r}; write e.g. 2026, 2025-2027 or 2025,2027")
        first, last = int(m[1]), int(m[2] or m[1])
        if last < first or last - first > 50:
            raise UserError(f"the year range {part!r} is empty or longer than 50 years")
        years.update(range(first, last + 1))
    return sorted(years)


def fill_calendar(url: str, years: Iterable[int]) -> int:
    """Write (or refresh) the calendar rows of `years`; returns the number of days written."""
    days = calendar_days(years)
    if not days:
        return 0
    with connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            """insert into raw.business_calendar
                   (region, calendar_date, is_working_day, is_makeup_working_day, holiday_name,
                    is_provisional, calendar_source)
               values (%s, %s, %s, %s, %s, %s, %s)
               on conflict (region, calendar_date) do update
                  set is_working_day = excluded.is_working_day,
                      is_makeup_working_day = excluded.is_makeup_working_day,
                      holiday_name = excluded.holiday_name,
                      is_provisional = excluded.is_provisional,
                      calendar_source = excluded.calendar_source,
                      loaded_at = now()
                where (raw.business_calendar.is_working_day, raw.business_calendar.is_makeup_working_day,
                       raw.business_calendar.holiday_name, raw.business_calendar.is_provisional)
                      is distinct from
                      (excluded.is_working_day, excluded.is_makeup_working_day, excluded.holiday_name,
                       excluded.is_provisional)""",
            [(REGION, d.calendar_date, d.is_working_day, d.is_makeup_working_day, d.holiday_name,
              d.is_provisional, _SOURCE) for d in days],
        )
    log.info("business calendar: %d day(s) of %s written", len(days), sorted({d.calendar_date.year for d in days}))
    return len(days)


def term_years(url: str) -> set[int]:
    """The years the current agreements' terms touch, plus the year after the last (for grace)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select extract(year from min(term_start))::int, extract(year from max(term_end))::int
                         from raw.agreement_versions""")
        first, last = cur.fetchone()
    if first is None:
        return set()
    return set(range(first, last + 2))


def ensure_calendar(url: str, extra_years: Iterable[int] = (), *, today: date | None = None) -> list[int]:
    """Fill the years in use (the terms', and today's) that the calendar lacks or holds as provisional.

    Returns the years filled.
    """
    wanted = term_years(url) | set(extra_years) | {(today or date.today()).year}
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select extract(year from calendar_date)::int, bool_or(is_provisional)
                         from raw.business_calendar where region = %s group by 1""", (REGION,))
        have = dict(cur.fetchall())
    official = official_years()
    todo = sorted(y for y in wanted if y not in have or (have[y] and y in official))
    if todo:
        fill_calendar(url, todo)
    return todo

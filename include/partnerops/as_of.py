"""The as-of date: the date statuses are computed (and alerts raised) as of.

One place decides it, for the CLI, the demo and every DAG:

- `today()`: the date on the ops clock (`settings.FEED_TIMEZONE`), the default everywhere
  a date is not given;
- `dates_for_run()`: the dates an Airflow run covers. An explicit `conf["as_of"]` wins;
  else every `as_of` named by the TRACKING events that triggered the run (events queued
  while an earlier run was busy arrive together); else the run's logical date, or for an
  Asset-triggered run (which has none) the time it was queued, on the ops clock;
- `for_run()`: the latest of those dates, for a run that computes one date (dbt's `as_of`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from partnerops.settings import FEED_TIMEZONE

__all__ = ["dates_for_run", "for_run", "local_date", "param", "parse", "today"]


def local_date(when: datetime) -> date:
    """The date of an instant on the ops clock; a naive datetime is refused."""
    if when.tzinfo is None:
        raise ValueError(f"{when!r} has no time zone")
    return when.astimezone(ZoneInfo(FEED_TIMEZONE)).date()


def today(now: datetime | None = None) -> date:
    """Today on the ops clock (or the date of `now` there)."""
    return local_date(now or datetime.now(UTC))


def parse(value: date | str) -> date:
    """A date given as a date or as YYYY-MM-DD text (conf, Asset extras, CLI)."""
    if isinstance(value, datetime):
        return local_date(value)
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def param() -> Any:
    """The `as_of` field of a DAG's trigger form: a date picker, empty by default.

    The form writes it into the run's conf, so `{"as_of": "YYYY-MM-DD"}` given by the API or the
    CLI keeps working, and an empty field (null) falls back to the run's date.
    """
    from airflow.sdk import Param

    return Param(None, type=["null", "string"], format="date", title="As of",
                 description="The date to show the statuses as of (YYYY-MM-DD, a date the marts were "
                             f"built for). Empty: the run's own date on the ops clock ({FEED_TIMEZONE}).")


def dates_for_run(dag_run: Any, triggering_asset_events: Any = None) -> list[date]:
    """The as-of dates of an Airflow run, oldest first (see the module docstring)."""
    conf = getattr(dag_run, "conf", None) or {}
    if conf.get("as_of"):
        return [parse(conf["as_of"])]
    found = set()
    for events in (triggering_asset_events or {}).values():
        for event in events or []:
            extra = getattr(event, "extra", None) or {}
            if extra.get("as_of"):
                found.add(parse(extra["as_of"]))
    if found:
        return sorted(found)
    when = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
    if when is None:
        raise ValueError("the run has no conf['as_of'], no event naming an as_of, and no date")
    return [local_date(when)]


def for_run(dag_run: Any, triggering_asset_events: Any = None) -> date:
    """The one as-of date of a run: the latest of `dates_for_run()`."""
    return dates_for_run(dag_run, triggering_asset_events)[-1]

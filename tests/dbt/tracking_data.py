"""Helpers for the dbt tests: run dbt, query, and insert evidence with chosen arrival times."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg2
from db_query import query

from partnerops.dbt import run_dbt

SHANGHAI = ZoneInfo("Asia/Shanghai")
FEEDS = ("orders", "shipments", "campaign_executions", "channel_listings", "data_deliveries", "attestations")


def dbt(url: str, target: Path, *args: str, as_of: date | None = None, **vars: object) -> str:
    """Run dbt on the test database; returns its output, raises with the output if it fails."""
    proc = run_dbt(list(args), as_of=as_of, url=url, vars=vars or None, target_path=target,
                   capture=True, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"dbt {' '.join(args)} failed:\n{out[-6000:]}"
    return out


def local(d: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """An instant on a date in Asia/Shanghai."""
    return datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=SHANGHAI)


def add_daily_loads(url: str, first: date, last: date, feeds: tuple[str, ...] = FEEDS) -> None:
    """One (empty) load per feed per day, arriving at 20:00 local: the feeds are fresh."""
    rows = []
    day = first
    while day <= last:
        for feed in feeds:
            rows.append((feed, f"/feeds/{feed}/{day}.csv", f"{feed}-{day}", local(day, 20), day, day))
        day += timedelta(days=1)
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.executemany(
                """insert into raw.evidence_loads (feed, file_path, content_hash, arrived_at, min_business_date,
                                                   max_business_date, status)
                   values (%s, %s, %s, %s, %s, %s, 'loaded')""",
                rows,
            )
    finally:
        conn.close()


def add_campaign(url: str, campaign_id: str, brand_id: str, campaign_type: str, started: datetime,
                 arrived: datetime) -> None:
    query(url, """insert into raw.campaign_executions
                      (campaign_id, brand_id, campaign_type, planned_start_at, planned_end_at, actual_start_at,
                       actual_end_at, reach, status, business_date, arrived_at, load_id)
                  values (%s, %s, %s, %s, %s, %s, %s, 1000, 'completed', %s, %s, 0)""",
          (campaign_id, brand_id, campaign_type, started, started + timedelta(days=1), started,
           started + timedelta(days=1), started.astimezone(SHANGHAI).date(), arrived))


def add_order(url: str, order_id: str, brand_id: str, customer_id: str, day: date, arrived: datetime,
              amount: str = "100.00", channel: str = "online") -> None:
    query(url, """insert into raw.orders (order_id, brand_id, customer_id, ordered_at, amount, currency, channel,
                                          product_lifecycle, business_date, arrived_at, load_id)
                  values (%s, %s, %s, %s, %s, 'CNY', %s, 'in_season', %s, %s, 0)""",
          (order_id, brand_id, customer_id, local(day, 10), amount, channel, day, arrived))

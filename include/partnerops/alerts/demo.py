"""The alerts step of `make demo`: what the reference scenario raised, as of the tracked date."""

from __future__ import annotations

from datetime import date

from partnerops.alerts.cli import print_report
from partnerops.alerts.run import run_alerts
from partnerops.alerts.status import STATUS_MART, status_mart_exists
from partnerops.db import connect
from partnerops.settings import Settings, get_settings


def latest_as_of(url: str, relation: str = STATUS_MART) -> date | None:
    """The latest as-of date in the status mart; None when the mart is missing or empty."""
    with connect(url) as conn, conn.cursor() as cur:
        if not status_mart_exists(cur, relation):
            return None
        cur.execute(f"select max(as_of_date) from {relation}")
        return cur.fetchone()[0]


def demo_alerts(url: str, settings: Settings | None = None) -> None:
    """Print the alerts for the mart's latest as-of date; a dry run unless a channel is configured."""
    cfg = (settings or get_settings()).alerts
    as_of = latest_as_of(url)
    if as_of is None:
        print(f"skipped: the status mart {STATUS_MART} is not built yet (commitment tracking comes first)")
        return
    dry_run = not (cfg.smtp_url or cfg.webhook_url)
    if dry_run:
        print("no PARTNEROPS_SMTP_URL or PARTNEROPS_ALERTS_WEBHOOK_URL: a dry run, nothing sent or recorded")
    print_report(run_alerts(url, as_of, dry_run=dry_run, settings=settings))
    print("the same as `partnerops alerts --as-of "
          f"{as_of}{' --dry-run' if dry_run else ''}`; rules, routing and settings: docs/alerts.md")

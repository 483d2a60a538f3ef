"""Alerts on the real status mart: the sample agreements taken in, `dbt build`, then alert runs.

Its own database (prefix `alerts_`), since dbt keeps state in it. The as-of date is the day
after the first brand's launch slot was due with no campaign on record, so the mart holds
at-risk or breached instances; the alerts read them through the production query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import psycopg2
import pytest
from alerts_fixtures import SmtpServer
from test_alert_runs import settings

from partnerops.agreements.sample import write_sample_corpus
from partnerops.alerts import run_alerts
from partnerops.alerts.demo import latest_as_of
from partnerops.alerts.run import alerts_for_dag_run
from partnerops.alerts.status import MARTS_READ
from partnerops.calendar import fill_calendar
from partnerops.db import create_database, drop_database, with_database
from partnerops.dbt import run_dbt
from partnerops.intake import run_intake
from partnerops.migrations import upgrade
from partnerops.settings import FEED_TIMEZONE

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo(FEED_TIMEZONE)
FEEDS = ("orders", "shipments", "campaign_executions", "channel_listings", "data_deliveries", "attestations")


def _exec(url: str, sql: str, params=None, many: bool = False) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            (cur.executemany if many else cur.execute)(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture(scope="module")
def marts(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    name = f"alerts_{uuid.uuid4().hex[:12]}"
    create_database(admin_url, name)
    url = with_database(admin_url, name)
    work = tmp_path_factory.mktemp("alerts_marts")
    try:
        upgrade(url)
        fill_calendar(url, [2026, 2027])
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PARTNEROPS_DATA_DIR", str(work / "var"))
            corpus = write_sample_corpus(work / "agreements", brands=2, groups=2, seed=2015, year=2026)
            run_intake([corpus[0].parent], database_url=url, triggered_by="test")
        [(slot_due,)] = _exec(url, """select min(due_date) from raw.commitments where commitment_id = 'launch-slot'""")
        as_of = slot_due + timedelta(days=1)
        loads, day = [], as_of - timedelta(days=40)
        while day <= as_of:  # fresh (empty) feeds: statuses are judged, not insufficient_data
            arrived = datetime.combine(day, time(20), SHANGHAI)
            loads += [(f, f"/feeds/{f}/{day}.csv", f"{f}-{day}", arrived, day, day) for f in FEEDS]
            day += timedelta(days=1)
        _exec(url, """insert into raw.evidence_loads (feed, file_path, content_hash, arrived_at, min_business_date,
                                                    max_business_date, status)
                      values (%s, %s, %s, %s, %s, %s, 'loaded')""", loads, many=True)
        marts = [f"+{name}" for name in MARTS_READ]
        for args in (["seed"], ["run", "--select", *marts]):  # dbt's own tests run elsewhere
            run_dbt(args, as_of=as_of, url=url, target_path=work / "dbt", capture=True)
        yield {"url": url, "as_of": as_of}
    finally:
        drop_database(admin_url, name)


def test_the_dag_task_without_a_channel_is_a_dry_run_that_records_nothing(marts: dict,
                                                                          monkeypatch: pytest.MonkeyPatch):
    """`sla_alerts`' task on a fresh installation: it shows what it would send instead of failing.

    First in the module: the mart's alerts are not recorded yet, so the dry run finds them new.
    """
    url, as_of = marts["url"], marts["as_of"]
    for name in ("PARTNEROPS_SMTP_URL", "PARTNEROPS_ALERTS_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", url)
    recorded = _exec(url, "select count(*) from raw.alerts")
    [report] = alerts_for_dag_run(None, SimpleNamespace(conf={"as_of": as_of.isoformat()}))
    assert report["as_of"] == as_of.isoformat() and report["dry_run"]
    assert sum(report["raised"].values()) > 0 and report["delivered"] == 0
    assert _exec(url, "select count(*) from raw.alerts") == recorded


def test_alerts_read_the_real_mart_and_send_once(marts: dict, smtp_server: SmtpServer):
    url, as_of = marts["url"], marts["as_of"]
    assert latest_as_of(url) == as_of
    statuses = dict(_exec(url, """select status, count(*) from marts.commitment_statuses
                                  where as_of_date = %s group by 1""", (as_of,)))
    now = datetime.combine(as_of, time(9), SHANGHAI)
    first = run_alerts(url, as_of, now=now, settings=settings(smtp_url=smtp_server.url))
    expected_at_least = statuses.get("at_risk", 0) + statuses.get("breached", 0)
    assert expected_at_least > 0, statuses
    assert first.raised["at_risk"] + first.raised["breached"] == expected_at_least
    assert first.failed == 0 and first.delivered == len(smtp_server.messages) > 0
    managers = {m for (m,) in _exec(url, "select account_manager_email from raw.agreement_versions")}
    assert managers & set(smtp_server.recipients())

    again = run_alerts(url, as_of, now=now + timedelta(hours=1), settings=settings(smtp_url=smtp_server.url))
    assert sum(again.raised.values()) == 0 and again.delivered == 0
    [(unsent,)] = _exec(url, "select count(*) from raw.alerts where status <> 'sent'")
    assert unsent == 0


def test_every_message_from_the_mart_names_its_evidence(marts: dict, smtp_server: SmtpServer):
    url, as_of = marts["url"], marts["as_of"]
    report = run_alerts(url, as_of, dry_run=True, settings=settings())
    for planned in report.examples:
        assert planned.payload["evidence_found"] and planned.payload["brand_name"]
        assert planned.payload["due_date"] or planned.payload["kind"] in ("quota", "threshold")


"""The Partnerships view in a real browser, inside a real Airflow.

Headless Chromium (Debian's `chromium`, driven by Playwright's Python client) against the
session's Airflow API server (`airflow_runtime`), which loads `plugins/partnerops_plugin.py`.
The project database gets one extra agreement whose brand name is hostile markup, fresh
feeds, and marts built by dbt for two as-of dates (the status history needs two); all of it
is removed again at the end. One browser for the module, logged in once through Airflow's
own login page.

Screenshots of every page visited are kept under `$PARTNEROPS_TEST_ARTEFACTS/partnerships`
(default: pytest's temporary folder); a failing test names its screenshot.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml
from browser import chromium
from db_query import query

from partnerops.agreements.sample import sample_documents
from partnerops.calendar import fill_calendar
from partnerops.dbt import run_dbt
from partnerops.intake import run_intake

pytestmark = pytest.mark.integration

HOSTILE = "<img src=x onerror=alert(1)> Bobby'); drop table marts.commitment_statuses;--"
#: After the session's shared tracking date (conftest.AS_OF), so that these are the marts' latest
#: dates and the status history (the snapshot of the latest date) covers the hostile agreement.
DATES = (date(2026, 12, 7), date(2026, 12, 21))
FEED_MARK = "partnerships-browser-test/"
FEEDS = ("orders", "shipments", "campaign_executions", "channel_listings", "data_deliveries", "attestations")


@pytest.fixture(scope="module")
def view(airflow_runtime, tracking_project, tracked, tmp_path_factory) -> Iterator[dict]:
    """The project database with a hostile brand, fresh feeds and marts for DATES.

    The dbt docs are the shared tracking run's (`tracked`): its DAG writes them.
    """
    url, work = tracking_project.url, tmp_path_factory.mktemp("partnerships")
    doc = sample_documents(brands=11, groups=8, seed=2015, year=2026)[10]
    doc["brand"]["name"] = HOSTILE
    hostile_id = doc["agreement_id"]
    inbox = work / "inbox"
    inbox.mkdir()
    (inbox / f"{hostile_id}.v1.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    # taken into the database only: the shared registry (and so the DAGs) stay as they are
    aside = replace(tracking_project.settings, data_dir=work / "var", agreements_inbox=work / "var" / "inbox")
    report = run_intake([inbox], database_url=url, triggered_by="test", settings=aside)
    assert report.count("loaded") == 1, report.summary()
    fill_calendar(url, [2026, 2027])
    query(url, """insert into raw.evidence_loads (feed, file_path, content_hash, arrived_at, status, triggered_by,
                                                finished_at, min_business_date, max_business_date)
                select feed, %s || feed || '/' || day::date, md5(feed || day::text || 'pb'),
                       day + interval '20 hours', 'loaded', 'test', day + interval '20 hours', day::date, day::date
                  from unnest(%s) as feed, generate_series(date '2026-01-01', %s::date, interval '1 day') as day""",
        (FEED_MARK, list(FEEDS), DATES[-1]))
    target = work / "dbt"
    try:
        for as_of in DATES:
            run_dbt(["build", "--resource-type", "seed", "--resource-type", "model", "--resource-type", "snapshot"],
                    as_of=as_of, url=url, target_path=target, capture=True)
        yield {"url": url, "hostile_id": hostile_id, "base": airflow_runtime.base_url, "as_of": DATES[-1]}
    finally:
        query(url, "delete from raw.evidence_loads where file_path like %s", (FEED_MARK + "%",))
        query(url, "delete from raw.commitments where agreement_id = %s", (hostile_id,))
        query(url, "delete from raw.agreement_versions where agreement_id = %s", (hostile_id,))


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    root = os.environ.get("PARTNEROPS_TEST_ARTEFACTS")
    out = Path(root) / "partnerships" if root else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser():
    with chromium() as instance:
        yield instance


@pytest.fixture(scope="module")
def page(browser, view, airflow_runtime, artefacts):
    """A browser tab logged in to Airflow through its login page."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    with kept(tab, artefacts, "login"):
        tab.goto(f"{view['base']}/auth/login")
        tab.fill("input[name=username]", "admin")
        tab.fill("input[name=password]", airflow_runtime.password)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_url(lambda u: "/auth/login" not in u)
        assert any(c["name"] == "_token" for c in context.cookies())
    yield tab
    context.close()


@contextmanager
def kept(tab, artefacts: Path, name: str) -> Iterator[None]:
    """Screenshot the tab after the block; on failure, name the screenshot in the error."""
    path = artefacts / f"{name}.png"
    try:
        yield
    except BaseException as exc:
        tab.screenshot(path=str(path), full_page=True)
        exc.add_note(f"screenshot: {path}")
        raise
    tab.screenshot(path=str(path), full_page=True)


def partnerships(tab, view: dict, path: str = "/"):
    """Open the Partnerships view inside the Airflow UI at the module's as-of date (other tests'
    marts may hold later dates); returns the frame that shows it, or the tab for another page."""
    tab.goto(f"{view['base']}/plugin/partnerships")
    frame = tab.frame_locator("iframe")
    frame.locator("h1").first.wait_for()
    if path != "/":
        tab.goto(f"{view['base']}/partnerops{path}?as_of={view['as_of'].isoformat()}")
        return tab
    if frame.locator("#as-of").inner_text() != view["as_of"].isoformat():  # the as-of picker, as a person would
        frame.locator("select[name=as_of]").select_option(view["as_of"].isoformat())
        frame.get_by_role("button", name="Show").click()
        frame.locator("#as-of", has_text=view["as_of"].isoformat()).wait_for()
    return frame


def shown_agreements(scope) -> list[str]:
    return scope.locator("#portfolio tbody tr[data-agreement]").evaluate_all(
        "rows => rows.map(r => r.dataset.agreement)")


def test_portfolio_inside_airflow_lists_every_agreement(page, view, artefacts):
    with kept(page, artefacts, "portfolio"):
        frame = partnerships(page, view)
        expected = [a for (a,) in query(view["url"], """select distinct agreement_id from marts.commitment_statuses
                                                       where as_of_date = %s order by 1""", (view["as_of"],))]
        assert len(expected) == 11 and view["hostile_id"] in expected
        assert sorted(shown_agreements(frame)) == expected
        assert frame.locator("#as-of").inner_text() == view["as_of"].isoformat()
        assert page.get_by_text("Partnerships").count() >= 1  # the navigation's entry
        frame.locator("#portfolio thead").get_by_role("link", name="Agreement").click()  # sort by agreement id
        frame.locator("#portfolio thead th", has_text="Agreement ▲").wait_for()
        assert shown_agreements(frame) == expected
        if os.environ.get("PARTNEROPS_README_SCREENSHOT"):  # refresh docs/img/partnerships.png
            page.set_viewport_size({"width": 1180, "height": 600})
            page.screenshot(path=os.environ["PARTNEROPS_README_SCREENSHOT"])
            page.set_viewport_size({"width": 1400, "height": 900})


def test_a_filter_narrows_and_the_csv_matches(page, view, artefacts):
    rows = query(view["url"], """select obligor, status, array_agg(distinct agreement_id order by agreement_id)
                                 from marts.commitment_statuses where as_of_date = %s and status <> 'superseded'
                                group by 1, 2""", (view["as_of"],))
    side, status, wanted = max((r for r in rows if 0 < len(r[2]) < 11), key=lambda r: (len(r[2]), r[1]))
    with kept(page, artefacts, "portfolio_filtered"):
        frame = partnerships(page, view)
        frame.locator("select[name=side]").select_option(side)
        frame.locator("select[name=status]").select_option(status)
        frame.get_by_role("button", name="Filter").click()
        frame.locator("#row-count").filter(has_text=str(len(wanted))).wait_for()
        assert sorted(shown_agreements(frame)) == wanted
        href = frame.locator("a#csv").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    listed = list(csv.DictReader(io.StringIO(httpx.get(f"{view['base']}{href}", cookies=cookies).text)))
    assert sorted(r["agreement_id"] for r in listed) == wanted
    brands = {b for (b,) in query(view["url"], "select brand_name from marts.agreement_versions")}
    assert listed and {r["brand"] for r in listed} <= brands


def test_attention_queue_lists_every_at_risk_and_breached_instance(page, view, artefacts):
    expected = {i for (i,) in query(view["url"], """select commitment_instance_id from marts.commitment_statuses
                                                   where as_of_date = %s and status in ('at_risk', 'breached')""",
                                    (view["as_of"],))}
    assert expected, "the scenario needs something at risk or breached"
    with kept(page, artefacts, "attention"):
        tab = partnerships(page, view, "/attention")
        assert tab.locator("#attention-count").inner_text() == str(len(expected))
        shown: list[str] = []
        while True:  # every page of the queue
            shown += tab.locator("#attention tbody tr[data-instance]").evaluate_all(
                "rows => rows.map(r => r.dataset.instance)")
            following = tab.locator("a[rel=next]")
            if not following.count():
                break
            following.click()
            tab.wait_for_load_state()
        assert len(shown) == len(expected) and set(shown) == expected


def test_agreement_page_shows_its_timeline_and_the_hostile_name_escaped(page, view, artefacts):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with kept(page, artefacts, "agreement"):
        tab = partnerships(page, view, f"/agreements/{view['hostile_id']}")
        assert tab.locator("svg.timeline").count() == 1
        assert tab.locator("svg.timeline rect").count() >= tab.locator("svg.timeline text.lane").count() > 0
        assert tab.locator("h1 .brand").inner_text() == HOSTILE
        assert tab.locator("main img").count() == 0 and not dialogs
        assert query(view["url"], "select count(*) from marts.commitment_statuses")[0][0] > 0


def test_dbt_docs_open_inside_airflow(page, view, artefacts):
    with kept(page, artefacts, "dbt_docs"):
        page.goto(f"{view['base']}/plugin/dbt-docs")
        assert "/cosmos/partnerops/dbt_docs_index.html" in page.locator("iframe").get_attribute("src")
        docs = page.frame_locator("iframe")
        docs.get_by_placeholder("Search for models").wait_for(timeout=60_000)
        docs.locator("a", has_text="partnerops").first.wait_for()  # the project tree, read from the manifest


def test_anonymous_is_refused(browser, view, artefacts):
    context = browser.new_context()
    tab = context.new_page()
    try:
        with kept(tab, artefacts, "anonymous"):
            tab.goto(f"{view['base']}/partnerops/")
            assert "/auth/login" in tab.url
            assert "TM-2026" not in tab.content()
        for path in ("/partnerops/", "/partnerops/portfolio.csv", "/partnerops/attention",
                     "/partnerops/agreements/TM-2026-0001", "/cosmos/partnerops/dbt_docs_index.html",
                     "/cosmos/partnerops/manifest.json"):
            assert httpx.get(f"{view['base']}{path}", follow_redirects=False).status_code == 401, path
    finally:
        context.close()

"""The Partnerships view (`partnerops.ui`) on marts built by dbt, through its FastAPI app.

One database for the module: five sample agreements, one of them with a hostile brand
name, fresh feeds, a launch campaign that arrives late, and a waiver. `dbt build` runs
for two as-of dates, so the marts hold statuses, scorecards and a status history. The
app is the real one, with Airflow's simple auth manager: requests carry a JWT signed by
it, and a request without one is refused.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from html import unescape

import pytest
import yaml
from tracking_data import add_campaign, add_daily_loads, dbt, local, query

from partnerops.agreements.sample import sample_documents
from partnerops.decisions import Decision, record_decision
from partnerops.intake import run_intake

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert('x')</script> Robert'); drop table marts.commitment_statuses;--"
HOSTILE_ID = "TM-2026-0005"


@pytest.fixture(scope="module")
def marts(dbt_db_url, dbt_target, tmp_path_factory):
    url = dbt_db_url
    work = tmp_path_factory.mktemp("ui")
    docs = sample_documents(brands=5, groups=3, seed=2015, year=2026)
    docs[-1]["brand"]["name"] = HOSTILE
    assert docs[-1]["agreement_id"] == HOSTILE_ID
    folder = work / "agreements"
    folder.mkdir()
    for doc in docs:
        (folder / f"{doc['agreement_id']}.v1.yaml").write_text(yaml.safe_dump(doc, sort_keys=False,
                                                                                allow_unicode=True))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARTNEROPS_DATA_DIR", str(work / "var"))
        report = run_intake([folder], database_url=url, triggered_by="test")
    assert report.count("loaded") == 5, report.summary()
    slot_due = dict(query(url, """select agreement_id, due_date from raw.commitments
                                   where commitment_id = 'launch-slot'"""))
    s1 = slot_due["TM-2026-0001"]
    a1, a2 = s1 + timedelta(days=1), max(slot_due.values()) + timedelta(days=14)
    add_daily_loads(url, date(2026, 1, 1), a2)
    add_campaign(url, "CMP-1", "B0001", "new_product_launch", local(s1, 10), local(s1 + timedelta(days=3), 9))
    record_decision(url, Decision(agreement_id="TM-2026-0002", commitment_id="launch-slot", instance_keys=(None,),
                                  decision="dispute", comment="the slot was offered, the brand declined",
                                  decided_by="am.two", decided_at=local(a2 - timedelta(days=2))))
    query(url, "update raw.commitment_decisions set recorded_at = decided_at")
    dbt(url, dbt_target, "build", "--exclude", "test_type:unit", as_of=a1)
    dbt(url, dbt_target, "build", "--exclude", "test_type:unit", as_of=a2)
    return {"url": url, "a1": a1, "a2": a2}


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """A JWT for a viewer, signed by Airflow's simple auth manager (the one the API server uses).

    Checking a token looks it up in Airflow's revoked tokens: that one table lives in a
    throwaway SQLite database for the module.
    """
    from airflow import settings as airflow_settings
    from airflow.api_fastapi.app import create_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.revoked_token import RevokedToken

    meta = f"sqlite:///{tmp_path_factory.mktemp('airflow') / 'airflow.db'}"
    previous = airflow_settings.SQL_ALCHEMY_CONN
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__AUTH_MANAGER",
                  "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "a-test-secret-for-the-partnerships-view-" + "x" * 32)
        mp.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", meta)
        airflow_settings.SQL_ALCHEMY_CONN = meta
        airflow_settings.configure_orm()
        RevokedToken.__table__.create(airflow_settings.engine)
        purge_cached_app()
        try:
            yield create_auth_manager().generate_jwt(SimpleAuthManagerUser(username="viewer", role="viewer"))
        finally:
            purge_cached_app()
            airflow_settings.dispose_orm(do_log=False)
            airflow_settings.SQL_ALCHEMY_CONN = previous
            if previous:
                airflow_settings.configure_orm()


@pytest.fixture(scope="module")
def client(marts, token):
    from fastapi.testclient import TestClient

    from partnerops.ui import create_app

    with TestClient(create_app(database_url=marts["url"]), headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def rows_of(html: str, table_id: str, attr: str) -> list[str]:
    table = re.search(rf'<table id="{table_id}">.*?</tbody>', html, re.S)
    assert table, f"no table {table_id}"
    return re.findall(rf'data-{attr}="([^"]+)"', table.group(0))


def test_anonymous_is_refused(marts, token):
    from fastapi.testclient import TestClient

    from partnerops.ui import create_app

    anonymous = TestClient(create_app(database_url=marts["url"]))
    for path in ("/", "/portfolio.csv", "/attention", f"/agreements/{HOSTILE_ID}", "/groups"):
        resp = anonymous.get(path, follow_redirects=False)
        assert resp.status_code == 401, (path, resp.status_code)
        assert "TM-2026" not in resp.text
    browser = anonymous.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303 and "/auth/login" in browser.headers["location"]
    forged = anonymous.get("/", headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code in (401, 403)


def test_portfolio_lists_every_agreement_of_the_date(client, marts):
    page = client.get("/")
    assert page.status_code == 200
    expected = [a for (a,) in query(marts["url"], """select distinct agreement_id from marts.commitment_statuses
                                                      where as_of_date = %s order by 1""", (marts["a2"],))]
    assert len(expected) == 5
    assert sorted(rows_of(page.text, "portfolio", "agreement")) == expected
    assert f'id="as-of">{marts["a2"]}<' in page.text and 'id="built-at"' in page.text


def test_filters_narrow_and_the_csv_is_what_is_shown(client, marts):
    url, a2 = marts["url"], marts["a2"]
    combos: dict[tuple[str, str], set[str]] = {}
    for agreement, side, status in query(url, """select distinct agreement_id, obligor, status
                                                  from marts.commitment_statuses where as_of_date = %s""", (a2,)):
        combos.setdefault((side, status), set()).add(agreement)
    narrowing = sorted((k for k, v in combos.items() if 0 < len(v) < 5), key=lambda k: (-len(combos[k]), k))
    assert narrowing, f"the scenario needs a side and status that some agreements have and others not: {combos}"
    side, status = narrowing[0]
    params = {"status": status, "side": side, "sort": "agreement"}
    page = client.get("/", params=params)
    shown = rows_of(page.text, "portfolio", "agreement")
    assert shown == sorted(combos[(side, status)])

    listed = list(csv.DictReader(io.StringIO(client.get("/portfolio.csv", params=params).text)))
    assert [r["agreement_id"] for r in listed] == shown
    row = listed[0]
    fulfil = dict(query(url, """select obligor, weighted_score from marts.agreement_fulfilment
                                 where as_of_date = %s and agreement_id = %s""", (a2, row["agreement_id"])))
    assert (row["platform_score"] or None) == (str(fulfil["platform"]) if fulfil["platform"] is not None else None)

    am = query(url, "select min(account_manager_email) from marts.commitment_statuses where as_of_date = %s",
               (a2,))[0][0]
    mine = [a for (a,) in query(url, """select distinct agreement_id from marts.commitment_statuses
                                         where as_of_date = %s and account_manager_email = %s order by 1""", (a2, am))]
    by_am = client.get("/", params={"account_manager": am, "sort": "agreement"})
    assert rows_of(by_am.text, "portfolio", "agreement") == mine


def test_sorting_by_breaches(client, marts):
    page = client.get("/", params={"sort": "breached", "desc": "1"})
    shown = rows_of(page.text, "portfolio", "agreement")
    counts = dict(query(marts["url"], """select agreement_id, count(*) filter (where status = 'breached')
                                          from marts.commitment_statuses where as_of_date = %s group by 1""",
                        (marts["a2"],)))
    assert [counts[a] for a in shown] == sorted(counts.values(), reverse=True)


def test_attention_queue_is_every_at_risk_and_breached_instance(client, marts):
    for as_of in (marts["a1"], marts["a2"]):
        expected = {i for (i,) in query(marts["url"], """select commitment_instance_id
                                                           from marts.commitment_statuses
                                                          where as_of_date = %s
                                                            and status in ('at_risk', 'breached')""", (as_of,))}
        page = client.get("/attention", params={"as_of": as_of.isoformat()})
        shown = [unescape(i) for i in rows_of(page.text, "attention", "instance")]
        assert set(shown) == expected and len(shown) == len(expected), as_of
    assert expected, "the scenario needs something at risk or breached"
    page = client.get("/attention").text
    assert "days late" in page and "/dags/agreement__TM-2026-0002/required_actions" in page
    assert "dispute by am.two" in page


def test_a_hostile_brand_name_renders_escaped(client, marts):
    for path in ("/", f"/agreements/{HOSTILE_ID}", "/attention", "/groups"):
        html = client.get(path).text
        assert "<script>" not in html, path
    html = client.get("/").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Robert&#39;); drop table" in html
    assert query(marts["url"], "select count(*) from marts.commitment_statuses")[0][0] > 0


def test_agreement_page_shows_commitments_timeline_and_decisions(client, marts):
    html = client.get("/agreements/TM-2026-0002").text
    assert '<svg class="chart timeline"' in html and "st-breached" in html
    lanes = query(marts["url"], """select count(distinct commitment_instance_id)
                                     from snapshots.commitment_status_snapshots
                                    where agreement_id = 'TM-2026-0002' and status <> 'superseded'""")[0][0]
    assert html.count('class="lane"') == lanes
    assert "the slot was offered, the brand declined" in html and "am.two" in html
    assert '<svg class="chart gmv"' in html
    assert client.get("/agreements/NOPE").status_code == 404


def test_as_of_picker_and_groups(client, marts):
    earlier = client.get("/", params={"as_of": marts["a1"].isoformat()}).text
    assert f'id="as-of">{marts["a1"]}<' in earlier and f'value="{marts["a2"]}"' in earlier
    missing = client.get("/", params={"as_of": "2020-01-01"})
    assert missing.status_code == 404 and "no statuses as of 2020-01-01" in missing.text
    assert client.get("/", params={"as_of": "yesterday"}).status_code == 400
    assert client.get("/", params={"status": "lost"}).status_code == 400
    groups = client.get("/groups").text
    expected = [g for (g,) in query(marts["url"], """select distinct group_id from marts.group_scorecards
                                                      where as_of_date = %s""", (marts["a2"],))]
    assert sorted(rows_of(groups, "groups", "group")) == sorted(expected)
    one = client.get(f"/groups/{expected[0]}").text
    assert rows_of(one, "portfolio", "agreement")


def test_an_unreachable_database_is_a_clear_error(token):
    from fastapi.testclient import TestClient

    from partnerops.ui import create_app

    app = create_app(database_url="postgresql://nobody@127.0.0.1:9/nowhere")
    resp = TestClient(app, headers={"Authorization": f"Bearer {token}"}).get("/")
    assert resp.status_code == 503 and "cannot reach the project database" in resp.text


def test_pages_say_when_the_marts_were_built(client, marts):
    built = query(marts["url"], "select max(built_at) from marts.mart_builds")[0][0]
    assert built is not None and built.date() >= datetime.now().date() - timedelta(days=1)
    from zoneinfo import ZoneInfo

    local = built.astimezone(ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%Y-%m-%d %H:%M") in client.get("/attention").text


def test_pages_split_long_lists_and_the_csv_has_them_all(client, marts, monkeypatch):
    import partnerops.ui.app as ui_app

    monkeypatch.setattr(ui_app, "PAGE_SIZE", 2)
    params = {"sort": "agreement"}
    pages = [client.get("/", params={**params, "page": n}).text for n in (1, 2, 3)]
    shown = [a for html in pages for a in rows_of(html, "portfolio", "agreement")]
    listed = [r["agreement_id"] for r in csv.DictReader(io.StringIO(client.get("/portfolio.csv", params=params).text))]
    assert shown == listed == [f"TM-2026-000{i}" for i in range(1, 6)]
    assert 'rel="next"' in pages[0] and 'rel="next"' not in pages[2] and "Page 3 of 3" in pages[2]
    expected = query(marts["url"], """select count(*) from marts.commitment_statuses
                                       where as_of_date = %s and status in ('at_risk', 'breached')""",
                     (marts["a2"],))[0][0]
    queue = [i for n in range(1, (expected + 1) // 2 + 2)
             for i in rows_of(client.get("/attention", params={"page": n}).text, "attention", "instance")]
    assert len(queue) == len(set(queue)) == expected

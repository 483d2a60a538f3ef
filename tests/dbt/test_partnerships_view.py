"""The Partnerships view (`partnerops.ui`) on marts built by dbt, through its FastAPI app.

One database for the module: five sample agreements, one of them with a hostile brand
name, fresh feeds, a launch campaign that arrives late, and a waiver. `dbt build` runs
for two as-of dates, so the marts hold statuses, scorecards and a status history. The
app is the real one, with Airflow's simple auth manager: requests carry a JWT signed by
it, and a request without one is refused.

Each part logs in with its own database role, as deployed: the agreements are taken in by
the loader, dbt runs as the transformer, and the view reads as the reader. The marts'
row-level security is checked here too, with real logins of an account manager and a group.
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
from partnerops.roles import grant_reporting_login, password_env, role_name, sync_role_logins

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert('x')</script> Robert'); drop table marts.commitment_statuses;--"
HOSTILE_ID = "TM-2026-0005"


def as_login(url: str, login: str) -> str:
    """The same database, logged in as `login` (the test server trusts local logins)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{login}@{parts.hostname}:{parts.port or 5432}"))


@pytest.fixture(scope="module")
def marts(dbt_db_url, dbt_target, tmp_path_factory):
    url = dbt_db_url
    sync_role_logins(url, env={password_env(key): f"pw-{key}" for key in ("loader", "transformer", "reader")})
    loader, transformer = as_login(url, role_name("loader")), as_login(url, role_name("transformer"))
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
        report = run_intake([folder], database_url=loader, triggered_by="test")
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
    dbt(transformer, dbt_target, "build", "--exclude", "test_type:unit", as_of=a1)
    dbt(transformer, dbt_target, "build", "--exclude", "test_type:unit", as_of=a2)
    return {"url": url, "reader": as_login(url, role_name("reader")), "a1": a1, "a2": a2}


@pytest.fixture(scope="module")
def jwt_for(tmp_path_factory):
    """`jwt_for(username, role)`: a JWT signed by Airflow's simple auth manager (the one the API server uses).

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
            manager = create_auth_manager()
            yield lambda username, role: manager.generate_jwt(SimpleAuthManagerUser(username=username, role=role))
        finally:
            purge_cached_app()
            airflow_settings.dispose_orm(do_log=False)
            airflow_settings.SQL_ALCHEMY_CONN = previous
            if previous:
                airflow_settings.configure_orm()


@pytest.fixture(scope="module")
def token(jwt_for):
    return jwt_for("viewer", "viewer")


@pytest.fixture(scope="module")
def client(marts, token):
    from fastapi.testclient import TestClient

    from partnerops.ui import create_app

    with TestClient(create_app(database_url=marts["reader"]), headers={"Authorization": f"Bearer {token}"}) as c:
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


def _by_account_manager(url: str, as_of: date) -> dict[str, list[str]]:
    portfolios: dict[str, list[str]] = {}
    for am, agreement in query(url, """select distinct account_manager_email, agreement_id
                                         from marts.commitment_statuses where as_of_date = %s order by 2""", (as_of,)):
        portfolios.setdefault(am, []).append(agreement)
    return portfolios


@pytest.fixture(scope="module")
def reporting_logins(marts):
    """An account manager's and a group's own database logins, scoped by `grant_reporting_login`."""
    url = marts["url"]
    portfolios = _by_account_manager(url, marts["a2"])
    am = min(portfolios, key=lambda a: (len(portfolios[a]), a))
    assert 0 < len(portfolios[am]) < 5, portfolios
    group = query(url, "select min(group_id) from marts.commitment_statuses")[0][0]
    logins = {"am": role_name("reader") + "_am_test", "group": role_name("reader") + "_group_test"}
    for login in logins.values():
        query(url, f'create role "{login}" login')
    summary = grant_reporting_login(url, logins["am"], account_manager=am.upper())
    assert f"({len(portfolios[am])} agreement(s) today)" in summary
    grant_reporting_login(url, logins["group"], group_id=group)
    return {"am": am, "mine": portfolios[am], "group": group,
            "am_url": as_login(url, logins["am"]), "group_url": as_login(url, logins["group"])}


def test_reporting_logins_see_only_their_agreements_in_every_mart(marts, reporting_logins):
    url, r = marts["url"], reporting_logins
    group_agreements = [a for (a,) in query(url, """select distinct agreement_id from marts.commitment_statuses
                                                      where group_id = %s order by 1""", (r["group"],))]
    assert 0 < len(group_agreements) < 5
    for login_url, agreements in ((r["am_url"], r["mine"]), (r["group_url"], group_agreements)):
        for table in ("commitment_statuses", "current_commitment_statuses", "agreement_fulfilment", "gmv_pacing",
                      "commitments", "agreement_versions", "threshold_windows", "commitment_decisions"):
            seen = [a for (a,) in query(login_url, f"select distinct agreement_id from marts.{table} order by 1")]
            everything = [a for (a,) in query(url, f"select distinct agreement_id from marts.{table} order by 1")]
            assert seen == [a for a in everything if a in agreements], (login_url, table)
        seen = {a for (a,) in query(login_url, "select agreement_id from snapshots.commitment_status_snapshots")}
        assert seen and seen <= set(agreements)
        brands = {b for (b,) in query(login_url, "select distinct brand_id from marts.brand_scorecards")}
        assert brands == {b for (b,) in query(url, "select brand_id from raw.agreement_versions where agreement_id = "
                                                   "any(%s)", (agreements,))}
    groups = {g for (g,) in query(r["group_url"], "select distinct group_id from marts.group_scorecards")}
    assert groups == {r["group"]}
    # A login may narrow its view with the session setting, never widen it.
    other = next(a for a in _by_account_manager(url, marts["a2"]) if a != r["am"])
    narrowed = query(r["am_url"], """select set_config('partnerops.account_manager', %s, false),
                                            (select count(*) from marts.commitment_statuses)""", (other,))
    assert narrowed[0][1] == 0
    assert len(query(marts["reader"], "select distinct agreement_id from marts.commitment_statuses")) == 5
    # The decisions view filters itself: a superuser sees them all, a reader without a scope none.
    assert query(url, "select count(*) from marts.commitment_decisions") == [(1,)]
    unscoped = role_name("reader") + "_unscoped_test"
    query(url, f'create role "{unscoped}" login in role "{role_name("reader")}"')
    for table in ("commitment_decisions", "commitment_statuses", "brand_scorecards", "group_scorecards"):
        assert query(as_login(url, unscoped), f"select count(*) from marts.{table}") == [(0,)], table


def test_an_account_manager_sees_only_their_portfolio_in_the_view(marts, reporting_logins, jwt_for):
    from fastapi.testclient import TestClient

    from partnerops.ui import create_app

    r = reporting_logins
    token = jwt_for(r["am"], "AccountManager")
    others = sorted(set(_by_account_manager(marts["url"], marts["a2"])) - {r["am"]})
    # As deployed (the reader login), and on a single login that may do anything (it steps down to the reader).
    for url in (marts["reader"], marts["url"]):
        am = TestClient(create_app(database_url=url), headers={"Authorization": f"Bearer {token}"})
        page = am.get("/", params={"sort": "agreement"})
        assert page.status_code == 200, page.text
        assert rows_of(page.text, "portfolio", "agreement") == r["mine"]
        listed = [row["agreement_id"] for row in csv.DictReader(io.StringIO(am.get("/portfolio.csv").text))]
        assert sorted(listed) == r["mine"]
        stranger = next(a for a in [f"TM-2026-000{i}" for i in range(1, 6)] if a not in r["mine"])
        assert am.get(f"/agreements/{stranger}").status_code == 404
        assert am.get(f"/agreements/{r['mine'][0]}").status_code == 200
        queue = {unescape(i) for i in rows_of(am.get("/attention").text, "attention", "instance")}
        assert queue == {i for (i,) in query(marts["url"], """select commitment_instance_id
                                                                from marts.commitment_statuses
                                                               where as_of_date = %s and agreement_id = any(%s)
                                                                 and status in ('at_risk', 'breached')""",
                                             (marts["a2"], r["mine"]))}
        assert all(o not in page.text for o in others)
    # A login the view cannot restrict (the marts' owner) is refused for an account manager, not shown everything.
    owner = TestClient(create_app(database_url=as_login(marts["url"], role_name("transformer"))),
                       headers={"Authorization": f"Bearer {token}"})
    refused = owner.get("/")
    assert refused.status_code == 503 and role_name("reader") in refused.text

"""The local login (`make serve`: Airflow's simple auth manager), against a real API server.

The shared Airflow of the other integration tests logs in through FAB, as a deployment does.
`partnerops serve` runs the simple auth manager instead, with one login per account manager
of the registry and passwords partnerops generates (`airflow_runtime._local_people`). Here an
API server alone runs with that configuration: admin signs in through Airflow's login page in
headless Chromium, every account manager gets a token with their generated password (a wrong
password gets none), and decision requests are assigned to the account manager and to admin,
the local escalation login.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from browser import chromium

from partnerops.agreements.sample import write_sample_corpus
from partnerops.agreements.validate import check_file
from partnerops.airflow_runtime import ADMIN_USER, AirflowRuntime, AirflowRuntimeError, running_airflow
from partnerops.people import decision_assignees, identities_path, read_identities
from partnerops.registry import registry_entry, write_registry
from partnerops.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local(admin_url: str, airflow_meta_template: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[AirflowRuntime, list[dict]]]:
    data = tmp_path_factory.mktemp("local_login")
    settings = replace(get_settings(), data_dir=data, agreements_inbox=data / "inbox" / "agreements")
    corpus = write_sample_corpus(data / "corpus", brands=2, groups=2, seed=11, year=2026)
    entries = [registry_entry(check_file(p).agreement) for p in corpus]
    write_registry(settings.registry_path, entries)
    with running_airflow(admin_url, meta_server_url=admin_url, meta_template=airflow_meta_template,
                         settings=settings, components=("api-server",), unpause_new_dags=False,
                         stop_timeout=5) as af:
        yield af, entries


def test_admin_signs_in_through_the_login_page(local):
    af, _ = local
    with chromium() as browser:
        context = browser.new_context()
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        tab.goto(f"{af.base_url}/auth/login")
        tab.fill("input[name=username]", ADMIN_USER)
        tab.fill("input[name=password]", af.password)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_url(lambda u: "/auth/login" not in u)
        assert any(c["name"] == "_token" for c in context.cookies())


def test_every_account_manager_has_a_login_of_their_own(local):
    af, entries = local
    managers = {e["account_manager"]["email"].lower() for e in entries}
    assert set(af.people) == managers
    for login, password in af.people.items():
        assert af.api_as(af.token_for(login, password), "GET", "/dags").status_code == 200
    with pytest.raises(AirflowRuntimeError, match="HTTP 401"):
        af.token_for(min(managers), "not-the-password")


def test_decision_requests_go_to_the_account_manager_and_admin(local):
    af, entries = local
    identities = read_identities(identities_path(af.settings.data_dir))
    manager = entries[0]["account_manager"]["email"].lower()
    assert [u["id"] for u in decision_assignees(entries[0], identities)] == [manager, ADMIN_USER]

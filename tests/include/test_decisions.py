"""Account-manager decisions: from a human-in-the-loop response to rows of raw.commitment_decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg2
import pytest

from partnerops.decisions import (
    DECISION_OPTIONS,
    NO_DECISION,
    Decision,
    DecisionError,
    decided_instances,
    decision_from_response,
    decisions_on,
    record_decision,
)

WHEN = datetime(2026, 11, 25, 3, 4, 5, tzinfo=UTC)


def _response(option: str, comment: str = "promo moved", user=None, **kw):
    return decision_from_response(
        agreement_id="TM-2026-0001", commitment_id="launch-slot", instance_keys=kw.get("keys", ["term"]),
        chosen_options=[option], params_input={"comment": comment},
        responded_by_user={"id": "u7", "name": "Zhang Wei"} if user is None else user,
        responded_at=kw.get("at", WHEN),
    )


@pytest.mark.parametrize(("option", "decision"), list(DECISION_OPTIONS.items()))
def test_each_option_becomes_its_decision(option, decision):
    got = _response(option)
    assert got == Decision("TM-2026-0001", "launch-slot", ("term",), decision, "promo moved",
                           "Zhang Wei", WHEN)


def test_no_decision_and_the_timeout_default_record_nothing():
    assert _response(NO_DECISION) is None
    # the scheduler applies the default when the window closes: no user
    got = decision_from_response(agreement_id="A", commitment_id="c", instance_keys=["term"],
                                 chosen_options=["Waive"], params_input={}, responded_by_user=None,
                                 responded_at=WHEN)
    assert got is None


def test_a_decision_needs_a_comment_saying_why():
    with pytest.raises(DecisionError, match="needs a comment"):
        _response("Waive", comment="   ")


def test_unknown_option_and_several_options_are_refused():
    with pytest.raises(DecisionError, match="unknown option"):
        _response("Approve")
    with pytest.raises(DecisionError, match="exactly one"):
        decision_from_response(agreement_id="A", commitment_id="c", instance_keys=["term"],
                               chosen_options=["Waive", "Dispute"], params_input={"comment": "x"},
                               responded_by_user={"id": "a", "name": "a"}, responded_at=WHEN)


def test_author_name_and_time_forms():
    assert _response("Dispute", user={"id": "admin", "name": "admin"}).decided_by == "admin"
    assert _response("Dispute", user="li.na").decided_by == "li.na"
    # under FAB the id is the user's row number; the name is the login (the email)
    assert _response("Dispute", user={"id": "7", "name": "li.na@partners.example.com"}).decided_by == \
        "li.na@partners.example.com"
    assert _response("Dispute", user={"id": "7", "name": ""}).decided_by == "7"
    assert _response("Dispute", at="2026-11-25T03:04:05+00:00").decided_at == WHEN
    with pytest.raises(DecisionError, match="time zone"):
        _response("Dispute", at=datetime(2026, 11, 25))


def test_empty_instance_list_means_every_instance():
    assert _response("Waive", keys=[]).instance_keys == (None,)


def test_record_decision_writes_one_row_per_instance(db_url):
    decision = _response("Waive", comment="  brand asked to move the launch  ", keys=["2026-10-01", "2026-11-01"])
    ids = record_decision(db_url, decision)
    assert len(ids) == 2
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select agreement_id, commitment_id, instance_key, decision, comment, decided_by, decided_at
                         from raw.commitment_decisions order by decision_id""")
        rows = cur.fetchall()
    assert [r[2] for r in rows] == ["2026-10-01", "2026-11-01"]
    assert rows[0][:2] == ("TM-2026-0001", "launch-slot")
    assert rows[0][3:6] == ("waive", "brand asked to move the launch", "Zhang Wei")
    assert rows[0][6] == WHEN
    assert decided_instances(db_url, "TM-2026-0001") == {("launch-slot", "2026-10-01"), ("launch-slot", "2026-11-01")}
    assert decided_instances(db_url, "TM-2026-0001", ["other"]) == set()


def test_a_decision_on_every_instance_is_reported_as_star(db_url):
    record_decision(db_url, _response("Dispute", keys=[]))
    assert decided_instances(db_url, "TM-2026-0001") == {("launch-slot", "*")}


def test_decisions_on_answers_only_once_every_instance_asked_about_is_decided(db_url):
    from partnerops.agreement_dags import wait_outcome

    keys = ["2026-10-01", "2026-11-01"]
    assert decisions_on(db_url, "TM-2026-0001", "launch-slot", keys) is None
    assert wait_outcome(db_url, "TM-2026-0001", "launch-slot", keys, built_at=None) is None
    record_decision(db_url, _response("Waive", keys=["2026-10-01"]))
    assert decisions_on(db_url, "TM-2026-0001", "launch-slot", keys) is None
    record_decision(db_url, _response("Waive", keys=["2026-11-01"]))
    found = decisions_on(db_url, "TM-2026-0001", "launch-slot", keys)
    assert found == [{"decision": "waive", "comment": "promo moved", "decided_by": "Zhang Wei",
                      "decided_at": WHEN.isoformat()}]
    outcome = wait_outcome(db_url, "TM-2026-0001", "launch-slot", keys, built_at=None)
    assert outcome == {"outcome": "decided", "decisions": found}
    # no decision is asked about (insufficient data): only a newer build of the marts ends the wait
    assert wait_outcome(db_url, "TM-2026-0001", "launch-slot", None, built_at=None) is None


def test_a_decision_on_every_instance_settles_each_of_them(db_url):
    record_decision(db_url, _response("Dispute", keys=[]))
    assert [d["decision"] for d in decisions_on(db_url, "TM-2026-0001", "launch-slot", ["term", "x"])] == ["dispute"]
    assert decisions_on(db_url, "TM-2026-0001", "other", ["term"]) is None

"""Generating one DAG per agreement: ids, tags, doc_md, shape, sharding, and status -> task state."""

from __future__ import annotations

import copy
import csv
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg2
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from partnerops import agreement_dags as ad
from partnerops.agreements.sample import write_sample_corpus
from partnerops.agreements.validate import check_file
from partnerops.assets import TRACKING
from partnerops.registry import registry_entry, write_registry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def entries(tmp_path_factory) -> list[dict]:
    corpus = write_sample_corpus(tmp_path_factory.mktemp("corpus"), brands=6, groups=3, seed=3, year=2026)
    return [registry_entry(check_file(p).agreement) for p in corpus]


@pytest.fixture
def entry(entries) -> dict:
    return copy.deepcopy(entries[0])


# -- names -----------------------------------------------------------------------------------------------

def test_dag_id_keeps_a_valid_agreement_id_and_sanitises_the_rest():
    assert ad.dag_id_for("TM-2026-0001") == "agreement__TM-2026-0001"
    odd = ad.dag_id_for("TM 2026/0001 天猫")
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", odd)
    assert odd.startswith("agreement__TM_2026_0001_")
    assert odd != ad.dag_id_for("TM_2026_0001 天猫"), "sanitised ids of different agreements must differ"
    assert len(ad.dag_id_for("x" * 400)) <= 250


def test_task_ids_are_valid_for_airflow():
    assert ad.task_id_for("ship-within-48h") == "ship-within-48h"
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", ad.task_id_for("月度 报告"))


def test_shards_are_stable_in_range_and_spread():
    ids = [ad.dag_id_for(f"A-{i}") for i in range(2000)]
    shards = [ad.shard_for(i) for i in ids]
    assert shards == [ad.shard_for(i) for i in ids]
    assert set(shards) == set(range(ad.SHARDS))
    assert max(shards.count(s) for s in range(ad.SHARDS)) < 2000 / ad.SHARDS * 1.3
    assert ad.shard_for("agreement__TM-2026-0001") == 1, "moving a DAG between files must be deliberate"
    assert ad.shard_of_file("/x/dags/agreements_shard_07.py") == 7
    with pytest.raises(ValueError, match="not a shard file"):
        ad.shard_of_file("dags/agreements_intake.py")


def test_every_shard_has_its_file():
    files = sorted(p.name for p in (REPO / "dags").glob("agreements_shard_*.py"))
    assert files == [f"agreements_shard_{i:02d}.py" for i in range(ad.SHARDS)]


# -- tags and doc_md ----------------------------------------------------------------------------------------

def test_tags_name_brand_group_manager_and_pillars(entry):
    tags = ad.agreement_tags(entry)
    assert tags[:2] == ["partnerops", "agreement"]
    assert f"brand:{entry['brand']['name']}" in tags
    assert f"group:{entry['group']['name']}" in tags
    assert f"am:{entry['account_manager']['name']}" in tags
    assert {t for t in tags if t.startswith("pillar:")} == {f"pillar:{p}" for p in entry["pillars"]}
    entry["brand"]["name"] = "B" * 300
    assert all(len(t) <= 100 for t in ad.agreement_tags(entry))


def test_md_escape_neutralises_markdown_and_html():
    assert ad.md_escape("a|b *c* _d_ [e](f) `g` <script>\n# h & i") == (
        r"a\|b \*c\* \_d\_ \[e\]\(f\) \`g\` \<script\> \# h &amp; i")
    assert ad.md_escape(None) == ""


def test_doc_md_shows_terms_and_both_sides_commitments(entry):
    doc = ad.agreement_doc_md(entry)
    assert entry["term"]["start"] in doc and entry["term"]["end"] in doc
    assert "GMV target" in doc and f"{entry['gmv_target']['amount']:,.0f}" in doc
    assert "#### The platform owes the brand" in doc and "#### The brand owes the platform" in doc
    for c in entry["commitments"]:
        assert f"**{ad.md_escape(c['id'])}**" in doc
        if c["due"]:
            assert c["due"] in doc
    platform_part = doc.split("#### The brand owes the platform")[0]
    assert all(ad.md_escape(c["id"]) in platform_part for c in entry["commitments"] if c["obligor"] == "platform")


def test_doc_md_escapes_user_text_so_tables_stay_intact(entry):
    entry["commitments"][0]["title"] = "Launch | <b>bold</b>\n| injected | row |"
    entry["brand"]["name"] = "Brand *star* [link](http://x)"
    doc = ad.agreement_doc_md(entry)
    assert "<b>" not in doc and "[link](" not in doc and "*star*" not in doc
    rows = [line for line in doc.splitlines() if line.startswith("| **")]
    unescaped_pipes = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
    assert unescaped_pipes == {7}, rows


# -- shape ------------------------------------------------------------------------------------------------

def test_dag_has_one_group_per_pillar_and_one_task_per_commitment(entry):
    dag = ad.build_agreement_dag(entry)
    assert dag.dag_id == ad.dag_id_for(entry["agreement_id"])
    assert dag.catchup is False and dag.max_active_runs == ad.MAX_ACTIVE_RUNS > 1
    assert dag.start_date is not None and dag.doc_md and "partnerops" in dag.tags
    groups = {g for g in dag.task_group.children if g not in (ad.READ_TASK_ID, ad.SCORECARD_TASK_ID,
                                                               ad.DECISION_TASK_ID)}
    assert groups == set(entry["pillars"]) & {c["pillar"] for c in entry["commitments"]}
    commitment_tasks = {t.task_id for t in dag.tasks if isinstance(t, ad.CommitmentStatusOperator)}
    assert commitment_tasks == {f"{c['pillar']}.{c['id']}" for c in entry["commitments"]}
    for task in dag.tasks:
        assert task.retries >= 1
    read = dag.get_task(ad.READ_TASK_ID)
    assert read.downstream_task_ids == commitment_tasks | {ad.DECISION_TASK_ID}
    scorecard = dag.get_task(ad.SCORECARD_TASK_ID)
    assert scorecard.upstream_task_ids == commitment_tasks | {ad.DECISION_TASK_ID}
    assert scorecard.trigger_rule == "all_done"


def test_retry_delay_is_the_production_one_unless_the_setting_replaces_it(entry, monkeypatch):
    monkeypatch.delenv("PARTNEROPS_RETRY_DELAY_SECONDS", raising=False)
    assert {t.retry_delay for t in ad.build_agreement_dag(entry).tasks} == {ad.RETRY_DELAY}
    monkeypatch.setenv("PARTNEROPS_RETRY_DELAY_SECONDS", "1.5")
    assert {t.retry_delay for t in ad.build_agreement_dag(entry).tasks} == {timedelta(seconds=1.5)}


def test_dag_is_scheduled_on_the_tracking_asset(entry):
    dag = ad.build_agreement_dag(entry)
    assert [a.name for a in dag.timetable.asset_condition.objects] == [TRACKING.name]


def test_shard_dags_builds_its_share_and_only_the_named_dag_for_a_task_run(entries, tmp_path, monkeypatch):
    registry = tmp_path / "agreements.json"
    write_registry(registry, entries)
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", raising=False)
    built = {}
    for shard in range(ad.SHARDS):
        dags = ad.shard_dags(f"agreements_shard_{shard:02d}.py", registry_path=registry)
        assert all(ad.shard_for(d) == shard for d in dags)
        built.update(dags)
    assert set(built) == {ad.dag_id_for(e["agreement_id"]) for e in entries}

    target = ad.dag_id_for(entries[2]["agreement_id"])
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", target)
    own = ad.shard_for(target)
    assert list(ad.shard_dags(f"agreements_shard_{own:02d}.py", registry_path=registry)) == [target]
    other = (own + 1) % ad.SHARDS
    assert ad.shard_dags(f"agreements_shard_{other:02d}.py", registry_path=registry) == {}
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "commitment_tracking")
    assert ad.shard_dags(f"agreements_shard_{own:02d}.py", registry_path=registry) == {}


def test_no_registry_means_no_dags(tmp_path):
    assert ad.shard_dags("agreements_shard_00.py", registry_path=tmp_path / "missing.json") == {}


# -- status -> task state --------------------------------------------------------------------------------

def test_every_status_the_marts_know_has_a_task_state():
    with (REPO / "dbt_project" / "seeds" / "status_scores.csv").open() as fh:
        statuses = {row["status"] for row in csv.DictReader(fh)}
    assert statuses <= set(ad.TASK_STATES)
    with pytest.raises(ValueError, match="unknown commitment status"):
        ad.task_state_for("lost")


def test_the_four_statuses_ops_watch_look_different_and_differ_from_a_pipeline_failure():
    looks = {s: ad.task_state_for(s) for s in ("delivered", "on_track", "at_risk", "breached")}
    assert looks == {"delivered": "success", "on_track": "skipped", "at_risk": "deferred", "breached": "failed"}
    assert ad.task_state_for("pending") == looks["on_track"]
    # a pipeline failure leaves commitment tasks upstream_failed, a state no status maps to
    assert "upstream_failed" not in ad.TASK_STATES.values()
    assert ad.task_state_for("insufficient_data") != "failed", "a missing feed never reads as a breach"


@pytest.mark.parametrize(("one", "other"), [("delivered", "delivered_late"), ("pending", "insufficient_data"),
                                            ("delivered_late", "breached"), ("waived", "at_risk")])
def test_statuses_a_person_must_tell_apart_look_different(one, other):
    assert ad.task_state_for(one) != ad.task_state_for(other)


def test_the_summary_line_puts_at_risk_and_breached_first():
    assert ad.summary_line({"at_risk": 1, "delivered": 3}) == "1 at risk · 0 breached"
    assert ad.summary_line({"breached": 2, "insufficient_data": 1}) == "0 at risk · 2 breached · 1 insufficient data"
    assert ad.summary_line({}) == "0 at risk · 0 breached · not in the marts yet"
    statuses = _statuses(a=[("term", "at_risk")], b=[("2026-10-01", "breached"), ("2026-11-01", "delivered")],
                         c=[("term", "at_risk")])
    assert ad.status_counts(statuses) == {"at_risk": 2, "breached": 1}


@pytest.mark.parametrize(("instances", "expected"), [
    (["delivered", "pending"], "pending"),
    (["delivered", "breached", "at_risk"], "breached"),
    (["delivered", "at_risk"], "at_risk"),
    (["delivered", "delivered_late"], "delivered_late"),
    (["superseded", "delivered"], "delivered"),
    (["superseded"], "superseded"),
    (["insufficient_data", "on_track"], "insufficient_data"),
    ([], "not_listed"),
])
def test_a_commitment_shows_its_worst_instance(instances, expected):
    assert ad.commitment_status(instances) == expected


def _statuses(**by_commitment: list[tuple[str, str]]) -> dict:
    return {"agreement_id": "A", "as_of": "2026-11-24", "built_at": "2026-11-24T01:00:00+00:00", "commitments": {
        cid: {"status": ad.commitment_status(s for _, s in inst),
              "instances": [{"instance_key": k, "status": s, "reason": None, "due_date": None, "is_disputed": False}
                            for k, s in inst]}
        for cid, inst in by_commitment.items()}}


def test_decisions_are_asked_for_at_risk_and_breached_instances_not_yet_decided(entry):
    ids = [c["id"] for c in entry["commitments"]]
    statuses = _statuses(**{ids[0]: [("term", "at_risk")], ids[1]: [("2026-10-01", "breached"),
                                                                      ("2026-11-01", "delivered")],
                            ids[2]: [("term", "on_track")], "unknown": [("term", "breached")]})
    needs = ad.decisions_needed(entry, statuses)
    assert [(n["commitment_id"], n["status"], [i["instance_key"] for i in n["instances"]]) for n in needs] == [
        (ids[0], "at_risk", ["term"]), (ids[1], "breached", ["2026-10-01"])]
    assert ad.decisions_needed(entry, statuses, {(ids[0], "term"), (ids[1], "*")}) == []
    body = ad.decision_body("A", "Brand <x>", needs[1], "2026-11-24")
    assert "2026-10-01" in body and "\\<x\\>" in body
    # plain words, the reason, and no table or status code names
    assert "is **breached** as of" in body and "no evidence of delivery by the deadline" in body
    needs[0]["instances"][0]["reason"] = "no launch evidence; due 2026-12-01"
    assert "no launch evidence; due 2026-12-01" in ad.decision_body("A", "B", needs[0], "2026-11-24")
    assert "**at risk**" in ad.decision_body("A", "B", needs[0], "2026-11-24")
    for text in (body, ad.decision_body("A", "B", needs[0], "2026-11-24")):
        assert "raw." not in text and "commitment_decisions" not in text and "at_risk" not in text


# -- operators, run without a scheduler -------------------------------------------------------------------

class _TI:
    def __init__(self, statuses):
        self.statuses, self.pushed = statuses, {}

    def xcom_pull(self, task_ids=None, key="return_value"):
        assert task_ids == ad.READ_TASK_ID and key == ad.STATUSES_KEY
        return self.statuses

    def xcom_push(self, key, value):
        self.pushed[key] = value


def _context(statuses, conf=None, started=None):
    run = SimpleNamespace(conf=conf or {}, start_date=started or datetime.now(UTC), run_after=None,
                          logical_date=None)
    return {"ti": _TI(statuses), "dag_run": run}


def _commitment_task(cid):
    return ad.CommitmentStatusOperator(task_id=cid, commitment_id=cid)


def test_commitment_task_states_follow_the_mapping():
    statuses = _statuses(d=[("term", "delivered")], p=[("term", "pending")], b=[("term", "breached")],
                         r=[("term", "at_risk")], i=[("term", "insufficient_data")], late=[("term", "delivered_late")])
    assert _commitment_task("d").execute(_context(statuses))["status"] == "delivered"
    with pytest.raises(AirflowSkipException, match=r"p is pending \(pending\)"):
        _commitment_task("p").execute(_context(statuses))
    with pytest.raises(AirflowSkipException, match="delivered late"):
        _commitment_task("late").execute(_context(statuses))
    with pytest.raises(AirflowSkipException, match="not_listed"):
        _commitment_task("new").execute(_context(statuses))
    with pytest.raises(AirflowFailException, match="BREACHED"):
        _commitment_task("b").execute(_context(statuses))
    with pytest.raises(TaskDeferred) as deferred:
        _commitment_task("r").execute(_context(statuses, conf={"decision_window_minutes": 30}))
    assert deferred.value.method_name == "settle"
    trigger = deferred.value.trigger
    assert isinstance(trigger, ad.CommitmentWaitTrigger)
    assert datetime.fromisoformat(trigger.until) > datetime.now(UTC) + timedelta(minutes=29)
    assert (trigger.agreement_id, trigger.commitment_id, trigger.instance_keys) == ("A", "r", ["term"])
    assert trigger.built_at == statuses["built_at"]
    classpath, kwargs = trigger.serialize()
    assert type(ad.CommitmentWaitTrigger(**kwargs)).__name__ == classpath.rsplit(".", 1)[1]
    # insufficient data waits too (purple, not pink like pending), but asks for no decision
    with pytest.raises(TaskDeferred) as deferred:
        _commitment_task("i").execute(_context(statuses))
    assert deferred.value.trigger.instance_keys is None
    with pytest.raises(AirflowSkipException, match="window has closed"):
        _commitment_task("r").execute(_context(statuses, started=datetime.now(UTC) - timedelta(days=2)))
    with pytest.raises(TaskDeferred) as deferred:  # default window: 20 hours
        _commitment_task("r").execute(_context(statuses, started=datetime.now(UTC) - timedelta(hours=19)))
    assert datetime.fromisoformat(deferred.value.trigger.until) > datetime.now(UTC) + timedelta(minutes=59)


def test_a_decision_settles_the_waiting_task_at_once():
    task, summary = _commitment_task("r"), "r is at risk (at_risk) as of 2026-11-24"
    waived = {"decision": "waive", "decided_by": "am", "comment": "agreed", "decided_at": "2026-11-24T10:00:00"}
    assert task.settle({}, {"outcome": "decided", "decisions": [waived]}, summary=summary)["status"] == "waived"
    with pytest.raises(AirflowSkipException, match="dispute by am: no"):
        task.settle({}, {"outcome": "decided", "decisions": [{**waived, "decision": "dispute", "comment": "no"}]},
                    summary=summary)
    with pytest.raises(AirflowSkipException, match="marts were rebuilt"):
        task.settle({}, {"outcome": "rebuilt", "built_at": "2026-11-25T01:00:00+00:00"}, summary=summary)
    with pytest.raises(AirflowSkipException, match="window has closed"):
        task.settle({}, {"outcome": "window_closed"}, summary=summary)


def test_the_commitment_task_logs_status_reason_due_evidence_and_progress():
    line = ad.status_line({"instance_key": "2026-10-01", "status": "at_risk", "reason": None, "kind": "quota",
                           "due_date": "2026-12-31", "evidence_count": 2, "progress_value": 2,
                           "progress_target": 4, "is_disputed": False})
    assert line == ("2026-10-01: at risk; why: 2 counted of 4 expected by now; due 2026-12-31; "
                    "evidence so far: 2; progress: 2 of 4")
    assert ad.status_line({"instance_key": "term", "status": "at_risk", "progress_value": 0,
                           "progress_target": 3.6822}).endswith("progress: 0 of 3.68")
    line = ad.status_line({"instance_key": "term", "status": "insufficient_data", "is_disputed": True,
                           "reason": "the orders feed is stale since 2026-11-20", "due_date": None})
    assert line == ("term: insufficient data (disputed); why: the orders feed is stale since 2026-11-20; "
                    "due -; evidence so far: -; progress: -")


def test_the_trigger_form_has_an_as_of_date_field(entry):
    dag = ad.build_agreement_dag(entry)
    schema = dag.params.get_param("as_of").schema
    assert schema["format"] == "date" and "string" in schema["type"]
    assert dag.params["as_of"] is None
    assert dag.max_active_runs > 1, "an open decision window must not block the next run"


def test_the_decision_form_asks_only_for_the_comment_not_the_dags_as_of(entry):
    mapped = ad.build_agreement_dag(entry).get_task(ad.DECISION_TASK_ID)
    need = {"commitment_id": "c", "status": "breached", "instances": [], "as_of": "2026-11-24"}
    decision_task = mapped.unmap({"need": need})  # as the worker does, with the DAG's params
    assert list(decision_task.serialized_params) == ["comment"]


def _decision_task(entry):
    mapped = ad.build_agreement_dag(entry).get_task(ad.DECISION_TASK_ID)
    need = {"commitment_id": "c", "status": "breached", "instances": [], "as_of": "2026-11-24"}
    return mapped.unmap({"need": need})


def test_the_decision_form_refuses_a_blank_comment_before_it_is_sent(entry):
    import jsonschema

    form = _decision_task(entry).serialized_params["comment"]
    assert form["value"] is None, "the form starts empty: the UI asks for it (a required field)"
    for blank in ("", "   ", "\t\n", None):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(blank, form["schema"])
    jsonschema.validate("agreed in the QBR", form["schema"])
    # the task's own param stays valid before anyone answers (Airflow checks it when the task starts)
    task = _decision_task(entry)
    assert task.params.validate() == {"comment": ""}


def test_the_window_closing_records_nothing_and_does_not_fail(entry, db_url, monkeypatch):
    monkeypatch.setenv("PARTNEROPS_DATABASE_URL", db_url)
    task = _decision_task(entry)
    timed_out = {"chosen_options": [ad.NO_DECISION], "params_input": {"comment": None},
                 "responded_at": datetime.now(UTC), "responded_by_user": None, "timedout": True}
    assert task.execute_complete({}, timed_out) == {"decision": None}


def test_scorecard_fails_the_run_only_on_a_pipeline_failure():
    scorecard = ad.ScorecardOperator(task_id="scorecard", agreement_id="A")
    statuses = _statuses(b=[("term", "breached")], d=[("term", "delivered")])
    assert scorecard.execute(_context(statuses)) == {"breached": 1, "delivered": 1}
    with pytest.raises(AirflowFailException, match="PIPELINE FAILURE"):
        scorecard.execute(_context(None))


# -- reading the marts ------------------------------------------------------------------------------------

@pytest.fixture
def mart(db_url):
    """A stand-in status mart with the contract's columns, in a schema of its own."""
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""drop schema if exists agdag_marts cascade; create schema agdag_marts;
            create table agdag_marts.commitment_statuses (
                as_of_date date, agreement_id text, commitment_id text, instance_key text, status text,
                status_reason text, due_date date, is_disputed boolean, kind text, evidence_count integer,
                progress_value numeric, progress_target numeric, warning_date date, breach_date date);
            create table agdag_marts.mart_builds (as_of_var date, built_at timestamptz)""")
    yield "agdag_marts.commitment_statuses"
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("drop schema agdag_marts cascade")


def test_read_agreement_statuses(db_url, mart):
    builds = "agdag_marts.mart_builds"
    with pytest.raises(RuntimeError, match="not fresh"):
        ad.read_agreement_statuses(db_url, "A", "2026-11-24", table=mart, builds_table=builds)
    with pytest.raises(RuntimeError, match="does not exist"):
        ad.read_agreement_statuses(db_url, "A", "2026-11-24", table="agdag_marts.nothing", builds_table=builds)
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.executemany(f"insert into {mart} values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", [
            ("2026-11-24", "A", "report", "2026-10-01", "breached", "no report", "2026-10-08", True, "recurring", 0,
             None, None, "2026-10-06", "2026-10-08"),
            ("2026-11-24", "A", "report", "2026-11-01", "delivered", None, "2026-11-07", False, "recurring", 1,
             None, None, None, None),
            ("2026-11-24", "A", "launch", "term", "on_track", None, None, False, "quota", 3, 3, 4.5, None, None),
            ("2026-11-24", "B", "launch", "term", "breached", None, None, False, "quota", 0, 0, 4, None, None),
            ("2026-11-23", "A", "launch", "term", "breached", None, None, False, "quota", 0, 0, 4, None, None),
        ])
        cur.execute(f"insert into {builds} values ('2026-11-24', '2026-11-24 01:00+00')")
    got = ad.read_agreement_statuses(db_url, "A", date(2026, 11, 24), table=mart, builds_table=builds)
    assert {k: v["status"] for k, v in got["commitments"].items()} == {"report": "breached", "launch": "on_track"}
    assert got["commitments"]["report"]["instances"][0] == {
        "instance_key": "2026-10-01", "status": "breached", "reason": "no report", "due_date": "2026-10-08",
        "is_disputed": True, "kind": "recurring", "evidence_count": 0, "progress_value": None,
        "progress_target": None, "warning_date": "2026-10-06", "breach_date": "2026-10-08"}
    assert got["commitments"]["launch"]["instances"][0]["progress_target"] == 4.5
    assert datetime.fromisoformat(got["built_at"]) == datetime(2026, 11, 24, 1, tzinfo=UTC)
    assert ad.read_agreement_statuses(db_url, "C", "2026-11-24", table=mart,
                                      builds_table=builds)["commitments"] == {}
    assert ad.marts_built_at(db_url, "agdag_marts.nothing") is None


def test_ui_guide_points_at_the_dags_and_the_required_actions(entries, tmp_path):
    registry = tmp_path / "agreements.json"
    write_registry(registry, entries)
    guide = ad.ui_guide("http://localhost:8080/", registry)
    assert f"per-agreement DAGs: {len(entries)} " in guide
    assert "http://localhost:8080/dags?tags=agreement" in guide
    assert f"http://localhost:8080/dags/{ad.dag_id_for(entries[0]['agreement_id'])}" in guide
    assert "http://localhost:8080/required_actions" in guide
    assert "per-agreement DAGs: 0 " in ad.ui_guide("http://x", tmp_path / "none.json")

"""One Airflow DAG per current agreement, generated from the registry snapshot.

The thin files `dags/agreements_shard_NN.py` call `shard_dags(__file__)`. Each builds the
DAGs of the agreements whose DAG id hashes to its shard, so that parse time per file stays
flat as agreements grow (see `bench/bench_dag_parse.py`); when a task runs, Airflow's
parsing context names its DAG and only that one is built. Parsing reads only the registry
snapshot (`partnerops.registry`), never the database.

Shape of `agreement__<id>` (scheduled on the `partnerops.tracking` Asset):

    read_marts ──> <pillar>.<commitment>  (one task group per pillar, one task per commitment) ──> scorecard
               └─> account_manager_decision  (human-in-the-loop, mapped over at-risk/breached) ─┘

What a commitment's status looks like in the grid (`TASK_STATES`, documented in the README,
"Reading the per-agreement DAGs"). Airflow has three end states a task can choose (success,
skipped, failed) and one waiting state without a worker slot (deferred), so:

- delivered, waived, superseded: **success** (green);
- pending, on_track, paused, excused, delivered_late, not listed yet: **skipped** (pink);
  delivered late is pink, not green: it is not a delivery on time;
- at_risk and insufficient_data: **deferred** (purple), an open question. The task settles at
  once when a decision on it is recorded (a waiver: success), when the next tracking run
  rebuilds the marts (the agreement's next run takes over), or when the decision window closes;
- breached: **failed** at once, never retried;
- pipeline failure (marts missing or unreadable): `read_marts` **failed** and every commitment
  **upstream_failed**; only then does the run itself fail (`scorecard` decides the run's state).

Each commitment task logs, at INFO, its status, why, the due date, the evidence so far and
the progress; `read_marts` writes the one-line summary ("1 at risk · 0 breached") as the run's
note. Runs of one agreement may overlap (`MAX_ACTIVE_RUNS`), so an open decision never
blocks the next tracking event's run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG, BaseOperator, Param, ParamsDict, TaskGroup, TriggerRule, XComArg, get_parsing_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from partnerops import as_of as as_of_date
from partnerops.db import database_url
from partnerops.decisions import (
    DECISION_OPTIONS,
    NO_DECISION,
    decided_instances,
    decision_from_response,
    decisions_on,
    record_decision,
)
from partnerops.settings import AIRFLOW_API_CONN_ID, DAG_START_DATE

log = logging.getLogger(__name__)

__all__ = [
    "DAG_ID_PREFIX",
    "SHARDS",
    "TASK_STATES",
    "CommitmentDecisionOperator",
    "CommitmentStatusOperator",
    "CommitmentWaitTrigger",
    "ReadMartsOperator",
    "ScorecardOperator",
    "agreement_doc_md",
    "agreement_tags",
    "build_agreement_dag",
    "commitment_status",
    "dag_id_for",
    "decisions_needed",
    "md_escape",
    "read_agreement_statuses",
    "set_run_note",
    "shard_dags",
    "shard_for",
    "shard_of_file",
    "status_counts",
    "status_line",
    "summary_line",
    "task_id_for",
    "task_state_for",
    "ui_guide",
]

DAG_ID_PREFIX = "agreement__"
#: Number of shard files in dags/ (`agreements_shard_00.py` ...); keep in step with those files.
SHARDS = 16
#: Delay between the retries of a task (PARTNEROPS_RETRY_DELAY_SECONDS replaces it; see settings).
RETRY_DELAY = timedelta(minutes=1)
#: Runs of one agreement that may be open at once. A run stays open while a decision is awaited
#: (up to the decision window, `settings.timers.decision_window`); the next tracking event must
#: start a run all the same.
MAX_ACTIVE_RUNS = 16
#: How often a waiting (deferred) commitment task checks for a decision or rebuilt marts.
WAIT_POLL_SECONDS = 30
#: When the marts were last built (dbt model `mart_builds`); a newer build ends a run's waiting.
BUILDS_MART = "marts.mart_builds"
#: The status mart, one row per commitment instance and as-of date (dbt model `commitment_statuses`).
STATUS_MART = "marts.commitment_statuses"

READ_TASK_ID = "read_marts"
DECISION_TASK_ID = "account_manager_decision"
SCORECARD_TASK_ID = "scorecard"
STATUSES_KEY = "statuses"

#: Commitment status -> the state its task ends in (or waits in). See the module docstring.
TASK_STATES: dict[str, str] = {
    "delivered": "success",
    "waived": "success",
    "superseded": "success",
    "delivered_late": "skipped",
    "pending": "skipped",
    "on_track": "skipped",
    "paused": "skipped",
    "excused": "skipped",
    "not_listed": "skipped",
    "insufficient_data": "deferred",
    "at_risk": "deferred",
    "breached": "failed",
}
#: The decision form's Comment: the form refuses a blank one before it is sent (JSON schema).
COMMENT_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": r"\S"}
#: Statuses for which the account manager is asked for a decision.
DECISION_STATUSES = ("at_risk", "breached")
#: Worst first: a commitment with several instances shows the worst of them.
_PRECEDENCE = ("breached", "at_risk", "insufficient_data", "excused", "paused", "pending", "on_track",
               "delivered_late", "delivered", "waived", "superseded", "not_listed")

_ID_OK = re.compile(r"[^A-Za-z0-9_.-]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
_MAX_TAG = 100


# -- names ------------------------------------------------------------------------------------------

def _safe_id(raw: str, max_len: int = 200) -> str:
    """`raw` with characters Airflow ids do not allow replaced; a hash suffix keeps changed ids distinct."""
    cleaned = _ID_OK.sub("_", raw)
    if cleaned != raw or len(cleaned) > max_len:
        digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:6]
        cleaned = f"{cleaned[: max_len - 7]}_{digest}"
    return cleaned


def dag_id_for(agreement_id: str) -> str:
    """`agreement__<id>`: the id as is when Airflow allows it, else sanitised with a short hash."""
    return DAG_ID_PREFIX + _safe_id(agreement_id, 250 - len(DAG_ID_PREFIX))


def task_id_for(commitment_id: str) -> str:
    return _safe_id(commitment_id, 200)


def shard_for(dag_id: str, shards: int = SHARDS) -> int:
    """The shard file that builds `dag_id`: stable across runs, machines and registry growth."""
    return zlib.crc32(dag_id.encode("utf-8")) % shards


def shard_of_file(path: str | Path) -> int:
    """The shard number in a shard file's name (`agreements_shard_07.py` -> 7)."""
    match = re.search(r"shard_(\d+)", Path(path).stem)
    if not match:
        raise ValueError(f"{path} is not a shard file (expected a name like agreements_shard_07.py)")
    return int(match.group(1))


# -- metadata ---------------------------------------------------------------------------------------

def md_escape(text: Any) -> str:
    """User text for a Markdown line or table cell: special characters escaped, one line."""
    flat = " ".join(str(text if text is not None else "").split())
    return _MD_SPECIAL.sub(r"\\\1", flat).replace("&", "&amp;")


def _tag(prefix: str, value: Any) -> str:
    return f"{prefix}:{' '.join(str(value).split())}"[:_MAX_TAG]


def agreement_tags(entry: Mapping[str, Any]) -> list[str]:
    """`partnerops`, `agreement`, and brand, group, account manager and pillar tags."""
    tags = ["partnerops", "agreement",
            _tag("brand", entry["brand"]["name"]),
            _tag("group", entry["group"]["name"]),
            _tag("am", entry["account_manager"]["name"])]
    tags += [_tag("pillar", p) for p in sorted(set(entry.get("pillars") or []))]
    return tags


def _amount(value: Any) -> str:
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return md_escape(value)


def agreement_doc_md(entry: Mapping[str, Any]) -> str:
    """The agreement's terms as Markdown: parties, term, GMV target, both sides' commitments."""
    term, gmv, am = entry["term"], entry.get("gmv_target") or {}, entry["account_manager"]
    lines = [
        f"### {md_escape(entry.get('title') or 'Agreement')} ({md_escape(entry['agreement_id'])}, "
        f"version {md_escape(entry.get('version'))})",
        "",
        f"- **Brand**: {md_escape(entry['brand']['name'])} ({md_escape(entry['brand']['id'])})",
        f"- **Group**: {md_escape(entry['group']['name'])} ({md_escape(entry['group']['id'])})",
        f"- **Term**: {md_escape(term['start'])} to {md_escape(term['end'])} "
        f"({md_escape(entry.get('timezone'))}); signed {md_escape(entry.get('signed_date'))}",
        f"- **GMV target**: {_amount(gmv.get('amount'))} {md_escape(gmv.get('currency'))}",
        f"- **Account manager**: {md_escape(am['name'])} ({md_escape(am.get('email'))})",
        "",
        "Each run shows the commitments' status as of the run's date, from the commitment-tracking marts: "
        "green delivered on time (or waived), pink not due, on track or delivered late, purple at risk or "
        "insufficient data (waiting for a decision, for data or for the next tracking run), red breached; "
        "orange everywhere means the marts could not be read. The run's note sums it up "
        "(\"1 at risk · 0 breached\"); each commitment's log says why. "
        "At-risk and breached commitments appear under **Required actions**.",
    ]
    commitments = entry.get("commitments") or []
    for side, heading in (("platform", "The platform owes the brand"), ("brand", "The brand owes the platform")):
        owed = [c for c in commitments if c.get("obligor") == side]
        lines += ["", f"#### {heading} ({len(owed)})", ""]
        if not owed:
            lines.append("Nothing.")
            continue
        lines += ["| commitment | pillar / service | kind | due | weight | depends on |",
                  "|---|---|---|---|---|---|"]
        for c in owed:
            due = md_escape(c.get("due")) if c.get("due") else ("each period" if c.get("kind") == "recurring"
                                                                 else "over the term")
            lines.append(
                f"| **{md_escape(c['id'])}**: {md_escape(c.get('title'))} "
                f"| {md_escape(c.get('pillar'))} / {md_escape(c.get('service'))} | {md_escape(c.get('kind'))} "
                f"| {due} | {md_escape(c.get('weight'))} | {md_escape(c.get('depends_on') or '')} |"
            )
    return "\n".join(lines)


# -- statuses ---------------------------------------------------------------------------------------

def commitment_status(instance_statuses: Iterable[str]) -> str:
    """One status for a commitment from its instances' statuses: the worst, superseded ones aside."""
    statuses = [s for s in instance_statuses if s]
    live = [s for s in statuses if s != "superseded"] or statuses
    if not live:
        return "not_listed"
    rank = {s: i for i, s in enumerate(_PRECEDENCE)}
    return min(live, key=lambda s: rank.get(s, len(rank)))


def task_state_for(status: str) -> str:
    """The task state (while the run is open) that a commitment status maps to; see TASK_STATES."""
    try:
        return TASK_STATES[status]
    except KeyError:
        raise ValueError(f"unknown commitment status {status!r}; expected one of {sorted(TASK_STATES)}") from None


def _plain(value: Any) -> Any:
    """A mart value as JSON (XCom): dates as ISO text, numbers as int or float."""
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    number = float(value)
    return int(number) if number.is_integer() else number


def marts_built_at(url: str, table: str = BUILDS_MART) -> str | None:
    """When the marts were last built (ISO time), or None when the project has no such record."""
    from partnerops.db import connect

    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"select max(built_at) from {table}")
        built = cur.fetchone()[0]
    return built.isoformat() if built else None


def read_agreement_statuses(url: str, agreement_id: str, as_of: date | str, *,
                            table: str = STATUS_MART, builds_table: str = BUILDS_MART) -> dict[str, Any]:
    """Every commitment's status of one agreement as of a date, from the status mart.

    Each instance carries what its task logs: status, reason, due date, evidence so far and
    progress. Raises (a pipeline failure, not a breach) when the mart is missing or has no
    rows at all for the date. An agreement the mart does not list yet gets `not_listed`
    commitments. `built_at` is when the marts were built (None if unknown).
    """
    from partnerops.db import connect

    as_of = str(as_of)
    built_at = marts_built_at(url, builds_table)
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            raise RuntimeError(f"the status mart {table} does not exist; has commitment_tracking run?")
        cur.execute(f"select exists (select 1 from {table} where as_of_date = %s)", (as_of,))
        if not cur.fetchone()[0]:
            raise RuntimeError(f"{table} has no rows as of {as_of}: the marts are not fresh for that date")
        cur.execute(
            f"""select commitment_id, instance_key, status, status_reason, due_date, is_disputed, kind,
                       evidence_count, progress_value, progress_target, warning_date, breach_date
                  from {table}
                 where as_of_date = %s and agreement_id = %s
                 order by commitment_id, instance_key""",
            (as_of, agreement_id),
        )
        rows = cur.fetchall()
    commitments: dict[str, dict[str, Any]] = {}
    for cid, key, status, reason, due, disputed, kind, evidence, progress, target, warning, breach in rows:
        item = commitments.setdefault(cid, {"instances": []})
        item["instances"].append({
            "instance_key": key, "status": status, "reason": reason, "due_date": _plain(due),
            "is_disputed": bool(disputed), "kind": kind, "evidence_count": _plain(evidence),
            "progress_value": _plain(progress), "progress_target": _plain(target),
            "warning_date": _plain(warning), "breach_date": _plain(breach)})
    for item in commitments.values():
        item["status"] = commitment_status(i["status"] for i in item["instances"])
    return {"agreement_id": agreement_id, "as_of": as_of, "built_at": built_at, "commitments": commitments}


def status_counts(statuses: Mapping[str, Any]) -> dict[str, int]:
    """How many commitments have each status (a commitment counts once, with its worst instance)."""
    counts: dict[str, int] = {}
    for item in (statuses.get("commitments") or {}).values():
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return counts


def summary_line(counts: Mapping[str, int]) -> str:
    """The run's health in one line: "1 at risk · 0 breached", then any waiting for data.

    The run's note carries it, so the runs list and the grid show health, not only run state.
    """
    parts = [f"{counts.get('at_risk', 0)} at risk", f"{counts.get('breached', 0)} breached"]
    if counts.get("insufficient_data"):
        parts.append(f"{counts['insufficient_data']} insufficient data")
    if not counts:
        parts.append("not in the marts yet")
    return " · ".join(parts)


def _status_words(status: str) -> str:
    """A status in plain words ("delivered late"), as the Partnerships view names it."""
    from partnerops.ui.words import STATUS_LABELS

    return STATUS_LABELS.get(status, status.replace("_", " ")).lower()


def _progress(instance: Mapping[str, Any]) -> str:
    value, target = instance.get("progress_value"), instance.get("progress_target")
    if value is None and target is None:
        return "-"
    def show(x: Any) -> str:
        return "?" if x is None else f"{round(x, 2):g}" if isinstance(x, float) else str(x)

    return f"{show(value)} of {show(target)}"


def status_line(instance: Mapping[str, Any]) -> str:
    """What one instance's task logs: status, why, due date, evidence so far, progress."""
    from partnerops.ui.words import plain_reason

    row = {**instance, "reason": None, "status_reason": instance.get("reason")}
    return (f"{instance.get('instance_key') or 'all'}: {_status_words(instance['status'])}"
            f"{' (disputed)' if instance.get('is_disputed') else ''}; why: {plain_reason(row)}; "
            f"due {instance.get('due_date') or '-'}; evidence so far: "
            f"{'-' if instance.get('evidence_count') is None else instance['evidence_count']}; "
            f"progress: {_progress(instance)}")


def decisions_needed(entry: Mapping[str, Any], statuses: Mapping[str, Any],
                     decided: set[tuple[str, str]] = frozenset()) -> list[dict[str, Any]]:
    """The at-risk or breached commitments to ask the account manager about, with the instances concerned.

    Instances already decided on (`decided`: (commitment_id, instance_key), "*" for all) are left out.
    """
    out = []
    by_id = {c["id"]: c for c in entry.get("commitments") or []}
    for cid, item in (statuses.get("commitments") or {}).items():
        if cid not in by_id:
            continue
        if (cid, "*") in decided:
            continue
        instances = [i for i in item["instances"] if i["status"] in DECISION_STATUSES
                     and (cid, i["instance_key"] or "") not in decided]
        if not instances:
            continue
        c = by_id[cid]
        out.append({
            "commitment_id": cid,
            "title": c.get("title"),
            "obligor": c.get("obligor"),
            "pillar": c.get("pillar"),
            "status": commitment_status(i["status"] for i in instances),
            "instances": instances,
        })
    return out


def decision_body(agreement_id: str, brand_name: str, need: Mapping[str, Any], as_of: str) -> str:
    """The Markdown the account manager reads before deciding."""
    from partnerops.ui.words import plain_reason

    lines = [
        f"**{md_escape(brand_name)}**, agreement {md_escape(agreement_id)}: "
        f"commitment **{md_escape(need['commitment_id'])}** ({md_escape(need.get('title'))}), "
        f"owed by the {md_escape(need.get('obligor'))}, is **{md_escape(_status_words(need['status']))}** "
        f"as of {md_escape(as_of)}.",
        "",
        "| instance | status | due | why |",
        "|---|---|---|---|",
    ]
    for i in need["instances"]:
        reason = plain_reason({**i, "status_reason": i.get("reason")})
        lines.append(f"| {md_escape(i['instance_key'] or 'all')} | {md_escape(_status_words(i['status']))} "
                     f"| {md_escape(i.get('due_date') or '')} | {md_escape(reason)} |")
    lines += ["", "Choose **Waive** (the commitment is waived: it no longer counts against the "
              f"{md_escape(need.get('obligor'))}), **Dispute** (the status stands, marked as disputed) or "
              "**Accept late delivery** (a late delivery will count as delivered), and say why in the comment. "
              "Your name, the time and your comment are kept with the decision; the next tracking run shows it."]
    return "\n".join(lines)


# -- run-time helpers (called inside tasks) ---------------------------------------------------------------

def decision_window_end(context: Mapping[str, Any]) -> datetime:
    """When the run stops waiting for decisions: its start plus the decision window.

    The window is the run's conf `decision_window_minutes`, else the setting
    PARTNEROPS_DECISION_WINDOW_MINUTES (default 20 hours; `TimerSettings`).
    """
    from partnerops.settings import get_settings

    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    window = (timedelta(minutes=float(conf["decision_window_minutes"])) if conf.get("decision_window_minutes")
              is not None else get_settings().timers.decision_window)
    start = getattr(dag_run, "start_date", None) or getattr(dag_run, "run_after", None)
    if start is None:
        from airflow.sdk.timezone import utcnow

        start = utcnow()
    return start + window


def set_run_note(dag_id: str, run_id: str, note: str, *, timeout: float = 10) -> str:
    """Write `note` on a DAG run through Airflow's REST API (`PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}`).

    A task cannot write a note through the Execution API, so it calls the public API as the
    user of the Airflow connection `partnerops_airflow_api` (`http://user:password@host:port`).
    Returns what happened, for the log; never raises: a missing note must not fail a run.
    """
    from urllib.parse import quote

    import httpx
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(AIRFLOW_API_CONN_ID)
    except Exception:  # noqa: BLE001 - the connection is optional
        return (f"no run note: the Airflow connection {AIRFLOW_API_CONN_ID} is not set "
                "(README, Configuration)")
    base = f"{conn.schema or 'http'}://{conn.host}{f':{conn.port}' if conn.port else ''}"
    try:
        token = httpx.post(f"{base}/auth/token", json={"username": conn.login, "password": conn.password},
                           timeout=timeout)
        token.raise_for_status()
        resp = httpx.patch(f"{base}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}",
                           json={"note": note}, timeout=timeout,
                           headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        resp.raise_for_status()
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        return f"no run note: {base} refused it ({exc})"
    return f"run note: {note}"


class CommitmentWaitTrigger(BaseTrigger):
    """Waits, in the triggerer, until an open commitment can settle; see `wait_outcome`.

    Fires {"outcome": "decided", "decisions": [...]} when every instance asked about has a
    decision, {"outcome": "rebuilt"} when the marts were built after the run read them (the
    agreement's next run takes over), or {"outcome": "window_closed"} at `until`.
    """

    def __init__(self, *, agreement_id: str, commitment_id: str, instance_keys: Sequence[str | None] | None,
                 built_at: str | None, until: str, poll_seconds: float = WAIT_POLL_SECONDS) -> None:
        super().__init__()
        self.agreement_id, self.commitment_id = agreement_id, commitment_id
        self.instance_keys = list(instance_keys) if instance_keys is not None else None
        self.built_at, self.until, self.poll_seconds = built_at, until, poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{__name__}.{type(self).__name__}",
                {"agreement_id": self.agreement_id, "commitment_id": self.commitment_id,
                 "instance_keys": self.instance_keys, "built_at": self.built_at, "until": self.until,
                 "poll_seconds": self.poll_seconds})

    async def run(self) -> Any:
        until = datetime.fromisoformat(self.until)
        while True:
            outcome = await asyncio.to_thread(lambda: wait_outcome(database_url(), self.agreement_id,
                                                                   self.commitment_id, self.instance_keys,
                                                                   self.built_at))
            if outcome:
                yield TriggerEvent(outcome)
                return
            left = (until - datetime.now(until.tzinfo)).total_seconds()
            if left <= 0:
                yield TriggerEvent({"outcome": "window_closed"})
                return
            await asyncio.sleep(min(self.poll_seconds, left))


def wait_outcome(url: str, agreement_id: str, commitment_id: str, instance_keys: Sequence[str | None] | None,
                 built_at: str | None) -> dict[str, Any] | None:
    """Why a waiting commitment task may settle now, or None to keep waiting.

    `instance_keys` are the instances a decision is asked about (None: no decision is asked,
    as for insufficient data); `built_at` is when the marts the run read were built.
    """
    if instance_keys:
        decisions = decisions_on(url, agreement_id, commitment_id, instance_keys)
        if decisions is not None:
            return {"outcome": "decided", "decisions": decisions}
    newest = marts_built_at(url)
    if built_at and newest and datetime.fromisoformat(newest) > datetime.fromisoformat(built_at):
        return {"outcome": "rebuilt", "built_at": newest}
    return None


# -- operators ------------------------------------------------------------------------------------------

class ReadMartsOperator(BaseOperator):
    """Reads the agreement's statuses as of the run's date; fails (and is retried) when the marts cannot be read.

    Pushes the statuses by commitment under the XCom key `statuses` (read by the commitment
    tasks), writes the run's one-line summary as its note, and returns the at-risk/breached
    commitments nobody has decided on yet (the list the decision task is mapped over).
    """

    ui_color = "#e8f0fe"

    def __init__(self, *, entry: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry

    def execute(self, context: Any) -> list[dict[str, Any]]:
        as_of = as_of_date.for_run(context.get("dag_run"), context.get("triggering_asset_events")).isoformat()
        url = database_url()
        statuses = read_agreement_statuses(url, self.entry["agreement_id"], as_of)
        decided = decided_instances(url, self.entry["agreement_id"])
        needs = decisions_needed(self.entry, statuses, decided)
        context["ti"].xcom_push(key=STATUSES_KEY, value=statuses)
        counts = status_counts(statuses)
        summary = summary_line(counts)
        self.log.info("%s as of %s: %s (%s); %d decision(s) to ask for", self.entry["agreement_id"], as_of, summary,
                      counts or "no commitments in the marts yet", len(needs))
        dag_run = context.get("dag_run")
        if dag_run is not None:
            self.log.info(set_run_note(dag_run.dag_id, dag_run.run_id, f"{summary} (as of {as_of})"))
        return [{**n, "as_of": as_of} for n in needs]


class CommitmentStatusOperator(BaseOperator):
    """One commitment: ends in the task state its status maps to (TASK_STATES); open questions wait, deferred."""

    ui_color = "#ffffff"

    def __init__(self, *, commitment_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commitment_id = commitment_id

    def execute(self, context: Any) -> dict[str, Any]:
        statuses = context["ti"].xcom_pull(task_ids=READ_TASK_ID, key=STATUSES_KEY) or {}
        item = (statuses.get("commitments") or {}).get(self.commitment_id) or {"status": "not_listed",
                                                                              "instances": []}
        status, as_of = item["status"], statuses.get("as_of")
        summary = f"{self.commitment_id} is {_status_words(status)} ({status}) as of {as_of}"
        self.log.info("%s; %d instance(s)", summary, len(item["instances"]))
        for i in item["instances"]:
            self.log.info(status_line(i))
        state = task_state_for(status)
        if state == "success":
            return {"status": status, "as_of": as_of}
        if state == "skipped":
            raise AirflowSkipException(summary)
        if state == "failed":
            raise AirflowFailException(f"BREACHED: {summary} (a commitment breach, not a pipeline failure)")
        from airflow.sdk.timezone import utcnow

        end = decision_window_end(context)
        if end <= utcnow():
            raise AirflowSkipException(f"{summary}; the decision window has closed")
        asked = ([i["instance_key"] for i in item["instances"] if i["status"] in DECISION_STATUSES]
                 if status in DECISION_STATUSES else None)
        self.log.info("%s; waiting (deferred, no worker slot) for %s, the next build of the marts, or the end of "
                      "the decision window at %s", summary, "a decision" if asked else "data", end.isoformat())
        self.defer(
            trigger=CommitmentWaitTrigger(agreement_id=statuses.get("agreement_id") or "",
                                          commitment_id=self.commitment_id, instance_keys=asked,
                                          built_at=statuses.get("built_at"), until=end.isoformat()),
            method_name="settle", kwargs={"summary": summary})

    def settle(self, context: Any, event: Mapping[str, Any] | None = None, summary: str = "") -> dict[str, Any]:
        """Ends the wait: a waiver succeeds (green); any other outcome skips, saying why."""
        outcome = (event or {}).get("outcome")
        if outcome == "decided":
            decisions = event["decisions"]
            said = "; ".join(f"{d['decision']} by {d['decided_by']}: {d['comment']}" for d in decisions)
            if all(d["decision"] == "waive" for d in decisions):
                self.log.info("%s; waived (%s); the next tracking run records it as waived", summary, said)
                return {"status": "waived", "decisions": decisions}
            raise AirflowSkipException(f"{summary}; decided ({said}); the next tracking run shows its effect")
        if outcome == "rebuilt":
            raise AirflowSkipException(f"{summary}; the marts were rebuilt at {event.get('built_at')}: the "
                                       "agreement's next run shows the status now")
        raise AirflowSkipException(f"{summary}; the decision window has closed")


class CommitmentDecisionOperator(HITLOperator):
    """Asks the account manager (Required Actions) to waive, dispute or accept late; records the answer.

    One mapped instance per at-risk or breached commitment. Waits in `awaiting_input`
    (no worker slot, no triggerer) until answered or until the decision window closes, when
    "No decision yet" is taken and nothing is recorded. An instance already decided (in an
    overlapping run of the same agreement) is not recorded twice.
    """

    template_fields: Sequence[str] = ()

    def __init__(self, *, agreement_id: str, brand_name: str, need: Mapping[str, Any],
                 account_manager_email: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("subject", f"Decision on {need.get('commitment_id')} ({agreement_id})")
        # A mapped task is built with the DAG's params (the trigger form's `as_of`); the form
        # the account manager fills in shows only the task's own params (source "task").
        params = ParamsDict(kwargs.pop("params", None) or {})
        params["comment"] = Param("", type="string", title="Comment", source="task",
                                  description="Why: required for a waiver, a dispute or an accepted late delivery")
        super().__init__(
            options=[*DECISION_OPTIONS, NO_DECISION],
            defaults=[NO_DECISION],
            multiple=False,
            params=params,
            **kwargs,
        )
        self.agreement_id = agreement_id
        self.brand_name = brand_name
        self.account_manager_email = account_manager_email
        self.need = need

    @property
    def serialized_params(self) -> dict[str, dict[str, Any]]:
        """The form the account manager fills in: the comment starts empty and must say something.

        Only the form carries COMMENT_SCHEMA (the UI will not send an empty comment); the task's
        own param stays a plain string, as Airflow validates it when the task starts, before
        anyone has answered. A blank comment that reaches the task is refused by `Decision`.
        """
        params = super().serialized_params
        if "comment" in params:
            comment = params["comment"]
            params["comment"] = {**comment, "value": None, "schema": {**(comment.get("schema") or {}),
                                                                       **COMMENT_SCHEMA}}
        return params

    def execute(self, context: Any) -> Any:
        from airflow.sdk.timezone import utcnow

        from partnerops.people import decision_assignees, identities_path, read_identities
        from partnerops.settings import get_settings

        need = self.need
        # Only the agreement's account manager (and the escalation people) may answer; Airflow's
        # API refuses anyone else. The ids are the auth manager's, from the identities snapshot.
        self.assigned_users = decision_assignees(
            {"account_manager": {"email": self.account_manager_email}},
            read_identities(identities_path(get_settings().data_dir)))
        self.log.info("asking %s", ", ".join(u["name"] for u in self.assigned_users) or
                      "anyone who may edit this DAG (no people synced yet)")
        context["decision_label"] = need["commitment_id"]
        self.subject = (f"{self.brand_name}: {need['commitment_id']} is {_status_words(need['status'])} "
                        f"({self.agreement_id}, as of {need.get('as_of')})")
        self.body = decision_body(self.agreement_id, self.brand_name, need, str(need.get("as_of")))
        self.response_timeout = max(decision_window_end(context) - utcnow(), timedelta(seconds=1))
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        context["decision_label"] = self.need["commitment_id"]
        if event.get("responded_by_user") is None:
            # The window closed: the scheduler took the default ("No decision yet") with the
            # form's defaults, which the comment's schema refuses; nothing is recorded anyway.
            event = {**event, "params_input": {}}
        result = super().execute_complete(context, event)
        cid = self.need["commitment_id"]
        url = database_url()
        decided = decided_instances(url, self.agreement_id, [cid])
        keys = [i["instance_key"] for i in self.need["instances"]
                if (cid, "*") not in decided and (cid, i["instance_key"] or "") not in decided]
        decision = decision_from_response(
            agreement_id=self.agreement_id,
            commitment_id=cid,
            instance_keys=keys or [None],
            chosen_options=result["chosen_options"],
            params_input=result["params_input"],
            responded_by_user=result["responded_by_user"],
            responded_at=result["responded_at"],
        )
        if decision is None:
            self.log.info("no decision on %s", cid)
            return {"decision": None}
        if not keys:
            self.log.info("%s was already decided on (in another run); %s by %s is not recorded again", cid,
                          decision.decision, decision.decided_by)
            return {"decision": None, "already_decided": True}
        ids = record_decision(url, decision)
        self.log.info("recorded %s of %s by %s (decision ids %s)", decision.decision, decision.commitment_id,
                      decision.decided_by, ids)
        return {"decision": decision.decision, "decided_by": decision.decided_by, "decision_ids": ids,
                "decided_at": decision.decided_at.isoformat()}


class ScorecardOperator(BaseOperator):
    """Counts the run's statuses; the run's state follows it, so only a pipeline failure fails the run."""

    def __init__(self, *, agreement_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)
        self.agreement_id = agreement_id

    def execute(self, context: Any) -> dict[str, int]:
        statuses = context["ti"].xcom_pull(task_ids=READ_TASK_ID, key=STATUSES_KEY)
        if not statuses:
            raise AirflowFailException(f"PIPELINE FAILURE: the marts could not be read for {self.agreement_id}; "
                                       f"see the {READ_TASK_ID} task's log")
        counts = status_counts(statuses)
        self.log.info("%s as of %s: %s (%s)", self.agreement_id, statuses["as_of"], summary_line(counts), counts)
        return counts


# -- DAG building -----------------------------------------------------------------------------------

def build_agreement_dag(entry: Mapping[str, Any], *, retry_delay: timedelta | None = None) -> Any:
    """The DAG of one registry entry (see the module docstring for its shape).

    `retry_delay` defaults to RETRY_DELAY, or PARTNEROPS_RETRY_DELAY_SECONDS when set.
    """
    from partnerops.assets import TRACKING
    from partnerops.settings import get_settings

    if retry_delay is None:
        retry_delay = get_settings().timers.retry_delay(RETRY_DELAY)

    agreement_id = entry["agreement_id"]
    dag = DAG(
        dag_id=dag_id_for(agreement_id),
        dag_display_name=f"{entry['brand']['name']} · {agreement_id}",
        description=f"{entry['brand']['name']} ({entry['group']['name']}): commitments as of each tracking run",
        schedule=[TRACKING],
        start_date=DAG_START_DATE,
        catchup=False,
        max_active_runs=MAX_ACTIVE_RUNS,
        default_args={"retries": 2, "retry_delay": retry_delay},
        tags=agreement_tags(entry),
        doc_md=agreement_doc_md(entry),
        params={"as_of": as_of_date.param()},
    )
    with dag:
        read = ReadMartsOperator(task_id=READ_TASK_ID, entry=dict(entry))
        scorecard = ScorecardOperator(task_id=SCORECARD_TASK_ID, agreement_id=agreement_id)
        commitments = entry.get("commitments") or []
        for pillar in sorted({c["pillar"] for c in commitments}):
            with TaskGroup(group_id=_safe_id(pillar), tooltip=f"{pillar} commitments"):
                for c in commitments:
                    if c["pillar"] != pillar:
                        continue
                    task = CommitmentStatusOperator(
                        task_id=task_id_for(c["id"]),
                        task_display_name=f"{c['id']} ({c['obligor']})",
                        commitment_id=c["id"],
                        doc_md=f"**{md_escape(c['id'])}**: {md_escape(c.get('title'))}; owed by the "
                               f"{md_escape(c.get('obligor'))}, {md_escape(c.get('kind'))}, weight "
                               f"{md_escape(c.get('weight'))}.",
                    )
                    _link(read, task)
                    _link(task, scorecard)
        decide = CommitmentDecisionOperator.partial(
            task_id=DECISION_TASK_ID, agreement_id=agreement_id, brand_name=entry["brand"]["name"],
            account_manager_email=str(entry["account_manager"].get("email") or ""),
            map_index_template="{{ decision_label }}",
        ).expand(need=XComArg(read))
        _link(decide, scorecard)
    return dag


def _link(upstream: Any, downstream: Any) -> None:
    """`upstream >> downstream` for two tasks already in the same DAG, without its cost.

    `>>` checks that both tasks share one DAG by hashing the DAG, and a DAG scheduled on an
    Asset hashes the Asset through `json.dumps`: that check was half the time of building a
    DAG, and parse time is what keeps 10,000 agreements within the import timeout.
    """
    upstream.downstream_task_ids.add(downstream.node_id)
    downstream.upstream_task_ids.add(upstream.node_id)


def _pulled_registry(settings: Any = None) -> Path:
    """The registry snapshot on this host, fetched first from an object-storage base (`partnerops.state`)."""
    from partnerops import state
    from partnerops.settings import get_settings

    settings = settings or get_settings()
    state.pull(state.REGISTRY, settings)
    return settings.registry_path


def ui_guide(base_url: str, registry_path: Path | None = None) -> str:
    """Where the per-agreement DAGs and the decisions waiting for account managers are, in the Airflow UI."""
    from partnerops.registry import read_registry

    entries = read_registry(registry_path or _pulled_registry())
    base = base_url.rstrip("/")
    example = f"{base}/dags/{dag_id_for(entries[0]['agreement_id'])}" if entries else None
    lines = [
        f"per-agreement DAGs: {len(entries)} (one per current agreement, tag `agreement`): {base}/dags?tags=agreement",
        "  each is scheduled on the tracking Asset (unpause the ones to follow); the grid shows every commitment:",
        "  green delivered, pink not due / on track / delivered late, purple at risk or insufficient data "
        "(waiting), red breached, orange: marts unreadable; the run's note says \"1 at risk · 0 breached\"",
        "  to see one at once, trigger it and pick the As of date (a date the marts were built for)",
        f"decisions waiting for account managers (waive / dispute / accept late): {base}/required_actions",
    ]
    if example:
        lines.insert(1, f"  e.g. {example}")
    return "\n".join(lines)


def _entries_for_shard(entries: Sequence[Mapping[str, Any]], shard: int, shards: int,
                       only_dag_id: str | None) -> list[Mapping[str, Any]]:
    if only_dag_id is not None:
        if not only_dag_id.startswith(DAG_ID_PREFIX) or shard_for(only_dag_id, shards) != shard:
            return []
        return [e for e in entries if dag_id_for(e["agreement_id"]) == only_dag_id][:1]
    return [e for e in entries if shard_for(dag_id_for(e["agreement_id"]), shards) == shard]


def shard_dags(shard_file: str | Path, *, registry_path: Path | None = None, shards: int = SHARDS) -> dict[str, Any]:
    """The DAGs a shard file defines, by DAG id; a file's globals are updated with them.

    When Airflow runs a task, its parsing context names the DAG: then only that DAG is built
    (or none, if it belongs to another shard).
    """
    from partnerops.registry import read_registry
    from partnerops.settings import get_settings

    shard = shard_of_file(shard_file)
    if not 0 <= shard < shards:
        raise ValueError(f"{shard_file}: shard {shard} is outside 0..{shards - 1}; SHARDS is {shards}")
    settings = get_settings()
    entries = read_registry(registry_path or _pulled_registry(settings))
    wanted = _entries_for_shard(entries, shard, shards, get_parsing_context().dag_id)
    retry_delay = settings.timers.retry_delay(RETRY_DELAY)
    dags = {}
    for entry in wanted:
        dag = build_agreement_dag(entry, retry_delay=retry_delay)
        dags[dag.dag_id] = dag
    return dags

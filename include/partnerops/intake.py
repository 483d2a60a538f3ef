"""Intake of signed agreements: validate, upsert versions, quarantine the rest.

`run_intake()` is the one implementation behind `partnerops intake` and the
`agreements_intake` DAG. Every input file ends in exactly one outcome:

- loaded: a new (agreement, version) was stored, with its commitments;
- unchanged: that (agreement, version) is already stored with the same content hash;
- quarantined: the reasons are stored in `raw.quarantine_reasons` and a copy of the file
  is set aside under the quarantine folder, next to a `.reasons.txt`.

Each file is handled in its own transaction, so one bad file never blocks the others, and
re-running intake on the same files changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg2

from partnerops import state
from partnerops.agreements.model import Agreement, agreement_from_document
from partnerops.agreements.validate import MAX_FILE_BYTES, CheckedFile, Problem, check_paths
from partnerops.db import connect
from partnerops.errors import UserError
from partnerops.files import UnreadableFile, read_input
from partnerops.registry import registry_entry, write_registry
from partnerops.settings import Settings, get_settings

log = logging.getLogger(__name__)

Outcome = Literal["loaded", "unchanged", "quarantined"]
INTAKE_LOCK_KEY = 7_001_001  # pg advisory lock: one intake at a time per database


@dataclass(frozen=True)
class FileOutcome:
    file: str
    outcome: Outcome
    agreement_id: str | None = None
    version: int | None = None
    problems: tuple[Problem, ...] = ()
    brand_name: str | None = None


@dataclass
class IntakeReport:
    intake_run_id: int
    files: list[FileOutcome] = field(default_factory=list)
    registry_path: Path | None = None
    registry_changed: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(1 for f in self.files if f.outcome == outcome)

    @property
    def counts(self) -> dict[str, int]:
        return {o: self.count(o) for o in ("loaded", "unchanged", "quarantined")}

    @property
    def changed_agreements(self) -> list[str]:
        return sorted({f.agreement_id for f in self.files if f.outcome == "loaded" and f.agreement_id})

    def as_dict(self) -> dict:
        """A JSON-able summary (what the DAG returns and puts on its Asset event)."""
        return {
            "intake_run_id": self.intake_run_id,
            **self.counts,
            "changed_agreements": self.changed_agreements,
            "quarantined_files": [f.file for f in self.files if f.outcome == "quarantined"],
        }

    def summary(self) -> str:
        c = self.counts
        return (f"{len(self.files)} file(s): {c['loaded']} loaded, {c['unchanged']} unchanged, "
                f"{c['quarantined']} quarantined")


def run_intake(
    paths: list[Path | str],
    *,
    database_url: str,
    triggered_by: str = "cli",
    settings: Settings | None = None,
) -> IntakeReport:
    """Take in every agreement file under `paths`; see the module docstring."""
    settings = settings or get_settings()
    checked = check_paths(paths)
    with connect(database_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_lock(%s)", (INTAKE_LOCK_KEY,))
        try:
            cur.execute("insert into raw.intake_runs (triggered_by) values (%s) returning intake_run_id",
                        (triggered_by,))
            report = IntakeReport(intake_run_id=cur.fetchone()[0])
            for item in checked:
                outcome = _take_in_one(conn, cur, item, report.intake_run_id, settings)
                report.files.append(outcome)
                log.info("%s: %s", outcome.file, outcome.outcome)
            c = report.counts
            cur.execute(
                """update raw.intake_runs set finished_at = now(), files_loaded = %s,
                   files_unchanged = %s, files_quarantined = %s where intake_run_id = %s""",
                (c["loaded"], c["unchanged"], c["quarantined"], report.intake_run_id),
            )
            report.registry_path = settings.registry_path
            report.registry_changed = write_registry(settings.registry_path, _current_entries(cur))
        finally:
            cur.execute("select pg_advisory_unlock(%s)", (INTAKE_LOCK_KEY,))
    # an object-storage base gets what this run wrote (no-op for a file:// base; partnerops.state)
    state.push(state.REGISTRY, settings)
    if report.count("quarantined"):
        state.push(state.QUARANTINE, settings)
    return report


def _take_in_one(conn, cur, item: CheckedFile, run_id: int, settings: Settings) -> FileOutcome:
    """One file in one transaction. A document that cannot be stored although validation passed
    (a value the database refuses, or one Python cannot encode) is quarantined with the reason,
    so it never stops the batch. Only a lost connection stops it."""
    conn.autocommit = False
    try:
        outcome = _take_in(cur, item, run_id, settings)
        conn.commit()
        return outcome
    except Exception as exc:
        if conn.closed:
            raise UserError(f"{item.path}: lost the database connection during intake ({_one_line(exc)}); "
                            "nothing of this file was kept: run the intake again when the database is back") from None
        conn.rollback()
        problem = Problem(str(item.path), "", _reason(exc))
        log.warning("%s: %s", item.path, problem.message)
        outcome = _quarantine(cur, item, [problem], run_id, settings)
        conn.commit()
        return outcome
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        if not conn.closed:
            conn.autocommit = True


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _reason(exc: BaseException) -> str:
    """Why a valid document could not be stored, in one line of at most a few hundred characters."""
    if isinstance(exc, psycopg2.Error):
        text = f"the database refused this document: {exc.diag.message_primary or _one_line(exc)}"
    elif isinstance(exc, RecursionError):
        text = "the document could not be stored: it is nested too deeply"
    else:
        text = f"the document could not be stored: {type(exc).__name__}: {_one_line(exc)}"
    text = " ".join(text.split())
    text = text if len(text) <= 300 else text[:300] + "..."
    return text + "; it passed validation, so please report this as a bug"


def intake_inbox(triggered_by: str = "airflow", *, conn_id: str | None = None) -> IntakeReport:
    """Take in everything in the agreements inbox (the agreements_intake DAG's work).

    The database is the Airflow connection `conn_id` in a task (default `partnerops_db`;
    `partnerops.db.database_url`).
    """
    from partnerops.db import database_url
    from partnerops.migrations import require_current

    settings = get_settings()
    state.pull(state.AGREEMENTS_INBOX, settings)  # documents delivered to an object-storage base
    settings.agreements_inbox.mkdir(parents=True, exist_ok=True)
    url = database_url(settings, conn_id=conn_id)
    require_current(url)
    report = run_intake([settings.agreements_inbox], database_url=url, triggered_by=triggered_by,
                        settings=settings)
    log.info("agreements intake: %s", report.summary())
    return report


def _take_in(cur, item: CheckedFile, run_id: int, settings: Settings) -> FileOutcome:
    file = str(item.path)
    if not item.ok:
        return _quarantine(cur, item, item.problems, run_id, settings)
    agreement = item.agreement
    assert agreement is not None and item.document is not None
    cur.execute(
        "select content_hash, source_file from raw.agreement_versions where agreement_id = %s and version = %s",
        (agreement.agreement_id, agreement.version),
    )
    existing = cur.fetchone()
    if existing and existing[0] == item.content_hash:
        outcome = FileOutcome(file, "unchanged", agreement.agreement_id, agreement.version,
                              brand_name=agreement.brand_name)
    elif existing:
        problem = Problem(
            file, "version",
            f"version {agreement.version} of agreement {agreement.agreement_id} is already loaded with "
            f"different content (from {existing[1]}); an amendment must carry the next version number",
        )
        return _quarantine(cur, item, [problem], run_id, settings)
    else:
        _insert_version(cur, agreement, item, run_id)
        outcome = FileOutcome(file, "loaded", agreement.agreement_id, agreement.version,
                              brand_name=agreement.brand_name)
    _record(cur, run_id, item, outcome)
    return outcome


def _record(cur, run_id: int, item: CheckedFile, outcome: FileOutcome) -> None:
    cur.execute(
        """insert into raw.intake_files (intake_run_id, file_path, content_hash, outcome, agreement_id, version)
           values (%s, %s, %s, %s, %s, %s)
           on conflict (intake_run_id, file_path) do nothing""",
        (run_id, outcome.file, item.content_hash, outcome.outcome, outcome.agreement_id, outcome.version),
    )


def _insert_version(cur, a: Agreement, item: CheckedFile, run_id: int) -> None:
    cur.execute(
        """insert into raw.agreement_versions (
               agreement_id, version, title, amendment_note, brand_id, brand_name, group_id, group_name,
               signed_date, effective_from, term_start, term_end, timezone, account_manager_name,
               account_manager_email, escalation_contacts, gmv_target_amount, gmv_target_currency, document,
               content_hash, source_file, intake_run_id)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            a.agreement_id, a.version, a.title, a.amendment_note, a.brand_id, a.brand_name, a.group_id,
            a.group_name, a.signed_date, a.effective_date, a.term_start, a.term_end, a.timezone, a.account_manager.name,
            a.account_manager.email,
            json.dumps([{"name": p.name, "email": p.email, "role": p.role} for p in a.escalation_contacts]),
            a.gmv_target_amount, a.gmv_target_currency, json.dumps(item.document), item.content_hash,
            str(item.path), run_id,
        ),
    )
    rows = []
    for c in a.commitments:
        rec, quota, thr = c.recurrence, c.quota, c.threshold
        rows.append((
            a.agreement_id, a.version, c.id, c.title, c.description, c.pillar, c.service, c.obligor,
            c.beneficiary, c.kind, c.opens, c.due,
            rec.every if rec else None,
            rec.due_after.days if rec else None,
            rec.due_after.business_days if rec else None,
            rec.starts if rec else None,
            rec.ends if rec else None,
            quota.target if quota else None,
            quota.pacing if quota else None,
            quota.tolerance if quota else None,
            thr.metric if thr else None,
            thr.comparison if thr else None,
            thr.target if thr else None,
            thr.window if thr else None,
            thr.min_sample if thr else None,
            thr.error_budget if thr else None,
            c.evidence.type, json.dumps(c.evidence.match), c.grace.days, c.grace.business_days,
            c.warning.elapsed_share, c.warning.business_days_before_due, c.depends_on, c.weight, c.remedy,
        ))
    placeholders = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    cur.executemany(
        f"""insert into raw.commitments (
               agreement_id, version, commitment_id, title, description, pillar, service, obligor,
               beneficiary, kind, opens_date, due_date, recurrence_every, recurrence_due_after_days,
               recurrence_due_after_business_days, recurrence_starts_date, recurrence_ends_date,
               quota_target, quota_pacing, quota_tolerance, threshold_metric, threshold_comparison,
               threshold_target, threshold_window, threshold_min_sample, threshold_error_budget,
               evidence_type, evidence_match, grace_days, grace_business_days, warning_elapsed_share,
               warning_business_days_before_due, depends_on_commitment_id, weight, remedy)
           values {placeholders}""",
        rows,
    )
    # The current version is the highest one taken in, whatever order they arrived in.
    cur.execute(
        """update raw.agreement_versions v
              set is_current = (v.version = m.max_version)
             from (select max(version) as max_version from raw.agreement_versions where agreement_id = %s) m
            where v.agreement_id = %s and v.is_current is distinct from (v.version = m.max_version)""",
        (a.agreement_id, a.agreement_id),
    )


def _quarantine(cur, item: CheckedFile, problems: list[Problem], run_id: int, settings: Settings) -> FileOutcome:
    """Store the reasons and set a copy of the file aside; keyed by content, so re-runs add nothing."""
    file = str(item.path)
    outcome = FileOutcome(file, "quarantined", problems=tuple(problems))
    content_hash = item.content_hash or f"unreadable:{file}"
    set_aside = settings.quarantine_dir / f"{content_hash[:16]}-{item.path.name}"
    if item.content_hash:  # it was read: set the same bytes aside (never a pipe, a device or an unreadable file)
        try:
            data = read_input(item.path, MAX_FILE_BYTES)
        except UnreadableFile:
            data = None
        if data is not None and hashlib.sha256(data).hexdigest() == item.content_hash:
            set_aside.parent.mkdir(parents=True, exist_ok=True)
            if not set_aside.exists():
                set_aside.write_bytes(data)
            set_aside.with_name(set_aside.name + ".reasons.txt").write_text(
                "".join(f"{_printable(str(p))}\n" for p in problems), encoding="utf-8"
            )
    cur.execute(
        """insert into raw.quarantined_documents
               (content_hash, source_file, set_aside_path, first_intake_run_id, last_intake_run_id)
           values (%s, %s, %s, %s, %s)
           on conflict (content_hash) do update set last_intake_run_id = excluded.last_intake_run_id
           returning (xmax = 0) as inserted""",
        (content_hash, file, str(set_aside), run_id, run_id),
    )
    if cur.fetchone()[0]:
        cur.executemany(
            """insert into raw.quarantine_reasons (content_hash, reason_no, field_path, line_no, message)
               values (%s, %s, %s, %s, %s)""",
            [(content_hash, i, _printable(p.field), p.line, _printable(p.message)) for i, p in enumerate(problems, 1)],
        )
    _record(cur, run_id, CheckedFile(item.path, content_hash), outcome)
    return outcome


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _current_entries(cur) -> list[dict]:
    cur.execute("select document from raw.agreement_versions where is_current order by agreement_id")
    return [registry_entry(agreement_from_document(doc)) for (doc,) in cur.fetchall()]

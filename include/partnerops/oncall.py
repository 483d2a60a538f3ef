"""Pipeline failures reach a person: the on-call notifier of the platform DAGs.

`OnCallNotifier` is an Airflow notifier. The platform DAGs (intake, evidence, tracking,
alerts) set it as every task's `on_failure_callback` (`failure_callbacks()`), and the
tracking DAG's Deadline Alerts run it in the triggerer (`deadline_callback()`). Either way
it sends one message, over the same channels and settings as the SLA alerts:

- an email to `PARTNEROPS_ONCALL_EMAIL` through the SMTP connection `partnerops_smtp`
  (`PARTNEROPS_SMTP_URL`), from `PARTNEROPS_ALERTS_FROM`;
- a post to the alerts webhook (`PARTNEROPS_ALERTS_WEBHOOK_URL`).

Settings are read when a message is sent, never while a DAG file is parsed. With neither
channel configured the notifier logs a warning that nobody was told. A channel that
refuses the message makes the callback fail (Airflow logs it), after the other channel
was tried.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import AsyncCallback, BaseNotifier

from partnerops.settings import AlertSettings, get_settings

log = logging.getLogger(__name__)

__all__ = ["OnCallMessage", "OnCallNotifier", "deadline_callback", "failure_callbacks", "oncall_message"]

SUBJECT_PREFIX = "[partnerops]"


class OnCallMessage:
    """What the on-call person reads: a one-line subject and a plain-text body."""

    def __init__(self, subject: str, text: str) -> None:
        self.subject = subject
        self.text = text

    @property
    def html(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"


def _get(obj: Any, *names: str) -> Any:
    """The first of `names` found on `obj` (an object, or a mapping as the triggerer passes it)."""
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value not in (None, ""):
            return value
    return None


def oncall_message(context: Mapping[str, Any], message: str | None = None) -> OnCallMessage:
    """The message for a failed task (a task's context) or a missed deadline (`context["deadline"]`)."""
    dag_run = context.get("dag_run") or {}
    ti = context.get("task_instance") or context.get("ti")
    deadline = context.get("deadline")
    dag_id = _get(ti, "dag_id") or _get(dag_run, "dag_id") or _get(context.get("dag"), "dag_id") or "?"
    run_id = _get(ti, "run_id") or _get(dag_run, "run_id", "dag_run_id") or context.get("run_id") or "?"
    lines: list[str] = []
    if deadline is not None:
        what = message or "a deadline was missed"
        subject = f"{SUBJECT_PREFIX} DEADLINE MISSED: {what} ({dag_id})"
        lines += [f"Deadline missed: {what}.", "",
                  f"DAG: {dag_id}", f"Run: {run_id}",
                  f"Logical date: {_get(dag_run, 'logical_date') or '-'}",
                  f"Deadline: {_get(deadline, 'deadline_time') or '-'}", "",
                  "The run is still going or has failed; its tasks in the Airflow UI show which step is late."]
    else:
        task_id = _get(ti, "task_id") or _get(context.get("task"), "task_id") or "?"
        error = context.get("exception")
        subject = f"{SUBJECT_PREFIX} FAILED: {dag_id}.{task_id}"
        lines += [message or f"Task {task_id} of DAG {dag_id} failed and will not be retried.", "",
                  f"DAG: {dag_id}", f"Task: {task_id}", f"Run: {run_id}",
                  f"Try: {_get(ti, 'try_number') or '-'}",
                  f"Error: {type(error).__name__}: {error}" if error is not None else "Error: (not given)"]
        log_url = _get(ti, "log_url")
        if log_url:
            lines.append(f"Log: {log_url}")
        lines += ["", "Fix the cause, then clear the task in the Airflow UI to run it again; re-running is safe."]
    return OnCallMessage(subject.replace("\n", " ")[:200], "\n".join(lines))


class OnCallNotifier(BaseNotifier):
    """Email and/or webhook to the on-call person; see the module docstring.

    `message` replaces the default first line (a deadline's "marts not fresh by 09:00").
    `context` is how the triggerer passes a Deadline Alert's context.
    """

    template_fields = ()  # the message is built from the context here, never rendered as Jinja

    def __init__(self, *, message: str | None = None, context: Any = None) -> None:
        super().__init__(context=context)
        self.message = message

    def notify(self, context: Any) -> None:
        send_to_oncall(oncall_message(context or {}, self.message))

    async def async_notify(self, context: Any) -> None:
        # The same synchronous sending, off the triggerer's event loop.
        await asyncio.to_thread(self.notify, context)


def send_to_oncall(message: OnCallMessage, cfg: AlertSettings | None = None) -> int:
    """Send `message` on every configured channel; the number sent. Raises if any channel refused it."""
    from partnerops.alerts.notifiers import AlertEmailNotifier, WebhookNotifier, smtp_connection

    cfg = cfg or get_settings().alerts
    channels: list[tuple[str, BaseNotifier]] = []
    if cfg.oncall_email and cfg.smtp_url:
        channels.append((f"email to {cfg.oncall_email}", AlertEmailNotifier(
            to=cfg.oncall_email, subject=message.subject, text_content=message.text, html_content=message.html,
            from_email=cfg.from_email)))
    if cfg.webhook_url:
        channels.append(("webhook", WebhookNotifier(url=cfg.webhook_url, secret=cfg.webhook_secret,
                                                    payload={"text": f"{message.subject}\n{message.text}"})))
    if not channels:
        log.warning("nobody was told (set PARTNEROPS_ONCALL_EMAIL with PARTNEROPS_SMTP_URL, and/or "
                    "PARTNEROPS_ALERTS_WEBHOOK_URL): %s", message.subject)
        return 0
    errors = []
    with smtp_connection(cfg.smtp_url):
        for name, notifier in channels:
            try:
                notifier({})
            except Exception as exc:  # try the other channel, then report every refusal
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if errors:
        raise RuntimeError(f"the on-call message {message.subject!r} was not delivered: " + "; ".join(errors))
    log.info("on-call notified: %s", message.subject)
    return len(channels)


def failure_callbacks() -> list[BaseNotifier]:
    """`on_failure_callback` for a platform DAG's tasks (in `default_args`)."""
    return [OnCallNotifier()]


def deadline_callback(message: str) -> AsyncCallback:
    """A Deadline Alert's callback: the on-call notifier, run in the triggerer."""
    return AsyncCallback(OnCallNotifier, kwargs={"message": message})

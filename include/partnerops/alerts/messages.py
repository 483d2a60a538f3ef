"""Alert messages, rendered from the Jinja2 templates in `partnerops/templates/alerts/`.

Ops change the wording there, without touching code. Each medium escapes the data for
itself: the HTML templates autoescape, the webhook payload passes every value through
`tojson` (and is parsed back here, so a broken template fails loudly instead of posting
broken JSON), and the subject is folded onto one line and encoded for the mail header.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date
from email.header import Header
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from partnerops.alerts.rules import BurnRate, rule_title, window_share_of
from partnerops.alerts.status import AgreementContacts, StatusRow

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "alerts"
MAX_SUBJECT_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


#: Every field of an alert's payload (what the templates may read as `a.<field>`).
PAYLOAD_FIELDS = (
    "rule", "rule_title", "as_of_date", "agreement_id", "agreement_title", "brand_name", "group_name",
    "commitment_id", "commitment_title", "instance_key", "pillar", "service", "kind", "obligor", "weight",
    "due_date", "days_to_due", "status", "evidence_found", "reason", "remedy", "account_manager_name",
    "account_manager_email", "escalated", "escalation_reason", "burn_rate", "burn_explanation", "recipients",
    "opens_date", "window_share",
)


@dataclass(frozen=True)
class EmailMessage:
    subject: str  # one line, plain (not yet header-encoded)
    text: str
    html: str


class _Loader(jinja2.FileSystemLoader):
    """Templates from the folder; `X.jinja.html` is the file `X.jinja` compiled with HTML autoescape.

    The shared wording (`_wording.jinja`) holds macros that put data into text. Jinja marks
    a macro's output safe in an autoescaping caller, so the HTML templates import it as
    `_wording.jinja.html`: the same file, escaping inside the macros.
    """

    def get_source(self, environment: jinja2.Environment, template: str):
        if template.endswith(".jinja.html"):
            template = template.removesuffix(".html")
        return super().get_source(environment, template)


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=_Loader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def alert_payload(row: StatusRow, contacts: AgreementContacts, *, rule: str, escalated: bool = False,
                  escalation_reason: str = "", burn: BurnRate | None = None) -> dict[str, Any]:
    """Everything a message says about one alert (stored with the alert in `raw.alerts.payload`)."""
    return {
        "rule": rule,
        "rule_title": rule_title(rule),
        "as_of_date": row.as_of_date.isoformat(),
        "agreement_id": row.agreement_id,
        "agreement_title": contacts.agreement_title,
        "brand_name": contacts.brand_name,
        "group_name": contacts.group_name,
        "commitment_id": row.commitment_id,
        "commitment_title": row.commitment_title,
        "instance_key": row.instance_key,
        "pillar": row.pillar,
        "service": row.service,
        "kind": row.kind,
        "obligor": row.obligor,
        "weight": f"{row.weight:g}",
        "due_date": row.due_date.isoformat() if row.due_date else None,
        "days_to_due": (row.due_date - row.as_of_date).days if row.due_date else None,
        "status": row.status,
        "evidence_found": row.evidence_found,
        "reason": row.reason,
        "remedy": row.remedy,
        "account_manager_name": contacts.account_manager.name,
        "account_manager_email": contacts.account_manager.email,
        "escalated": escalated,
        "escalation_reason": escalation_reason,
        # JSON has no infinity: an unbounded rate (nothing delivered yet, or a spent zero budget) is null
        "burn_rate": burn.rate if burn and math.isfinite(burn.rate) else None,
        "burn_explanation": burn.explanation if burn else None,
        "opens_date": row.opens_date.isoformat() if row.opens_date else None,
        "window_share": f"{share:.0%}" if (share := window_share_of(rule)) is not None else None,
    }


def _complete(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload with the fields added since it was stored (None), so retries still render."""
    return {**dict.fromkeys(PAYLOAD_FIELDS), **payload}


def one_line(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """Text safe for a single header line: control characters and line breaks become spaces."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def encode_header(text: str) -> str:
    """A header value as RFC 2047 encoded words when it is not plain ASCII (brand names often aren't)."""
    text = one_line(text)
    return text if text.isascii() else Header(text, "utf-8").encode()


def render_email(payload: dict[str, Any]) -> EmailMessage:
    env, payload = _env(), _complete(payload)
    return EmailMessage(
        subject=one_line(env.get_template("subject.txt").render(a=payload)),
        text=env.get_template("email.txt").render(a=payload),
        html=env.get_template("email.html").render(a=payload),
    )


def render_webhook(payload: dict[str, Any]) -> dict[str, Any]:
    """The Slack-compatible JSON payload of one alert (a dict, parsed from the template's output)."""
    rendered = _env().get_template("webhook.json").render(a=_complete(payload))
    try:
        return json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise ValueError(f"templates/alerts/webhook.json rendered invalid JSON ({exc}); "
                         "pass every value through | tojson") from None


def render_digest(digest_date: date, alerts: list[dict[str, Any]]) -> EmailMessage:
    env = _env()
    ctx = {"digest_date": digest_date.isoformat(), "alerts": [_complete(a) for a in alerts]}
    return EmailMessage(
        subject=one_line(env.get_template("digest_subject.txt").render(**ctx)),
        text=env.get_template("digest.txt").render(**ctx),
        html=env.get_template("digest.html").render(**ctx),
    )

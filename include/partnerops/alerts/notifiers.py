"""The alert channels, as Airflow notifiers: the DAG and `partnerops alerts` both send through them.

- `AlertEmailNotifier`: the SMTP provider's `SmtpNotifier`, sending a plain-text and an
  HTML part (multipart/alternative) over the Airflow connection `partnerops_smtp`
  (`PARTNEROPS_SMTP_URL`, exposed as `AIRFLOW_CONN_PARTNEROPS_SMTP`).
- `WebhookNotifier`: a JSON POST (a Slack-compatible payload) with the standard library,
  signed with HMAC-SHA256 and a timestamp (`signing.py`; `PARTNEROPS_ALERTS_WEBHOOK_SECRET`).

Both are given messages already rendered from the repository's templates, so their
`template_fields` are empty: Airflow never renders agreement data (a brand named
"{{ ... }}") as a template. Both raise on a refused delivery; the caller records it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.mime.text import MIMEText
from functools import cached_property
from typing import Any

from airflow.providers.smtp.hooks.smtp import SmtpHook
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseNotifier

from partnerops.alerts.messages import encode_header
from partnerops.alerts.signing import DELIVERY_HEADER, signed_headers

SMTP_CONN_ID = "partnerops_smtp"
_SMTP_CONN_ENV = f"AIRFLOW_CONN_{SMTP_CONN_ID.upper()}"


class DeliveryError(Exception):
    """A channel refused or could not take a message."""


class _AlternativeSmtpHook(SmtpHook):
    """The provider's hook, with a plain-text part placed before the HTML one."""

    def __init__(self, text_content: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._text_content = text_content

    def _build_mime_message(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        msg, recipients = super()._build_mime_message(*args, **kwargs)
        msg.get_payload().insert(0, MIMEText(self._text_content, "plain", kwargs.get("mime_charset", "utf-8")))
        return msg, recipients


class AlertEmailNotifier(SmtpNotifier):
    """One alert email to one recipient: text and HTML alternatives, header-safe subject."""

    template_fields = ()  # already rendered; see the module docstring

    def __init__(self, *, to: str, subject: str, text_content: str, html_content: str, from_email: str,
                 smtp_conn_id: str = SMTP_CONN_ID, **kwargs: Any) -> None:
        super().__init__(to=to, from_email=from_email, subject=encode_header(subject), html_content=html_content,
                         smtp_conn_id=smtp_conn_id, mime_subtype="alternative", **kwargs)
        self.text_content = text_content

    @cached_property
    def hook(self) -> SmtpHook:
        return _AlternativeSmtpHook(self.text_content, smtp_conn_id=self.smtp_conn_id, auth_type=self.auth_type)


class WebhookNotifier(BaseNotifier):
    """POST a signed JSON payload (e.g. a Slack incoming webhook); any non-2xx answer is a failure.

    `secret` signs the exact bytes posted (`signing.signed_headers`); `delivery_id`, when
    given, is sent as `X-Partnerops-Delivery`, the same on every retry of one delivery.
    """

    template_fields = ()  # already rendered; see the module docstring

    def __init__(self, *, url: str, payload: dict[str, Any], secret: str | None, delivery_id: str | None = None,
                 timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.payload = payload
        self.secret = secret
        self.delivery_id = delivery_id
        self.timeout = timeout

    def notify(self, context: Any) -> None:
        if not self.secret:
            raise DeliveryError("PARTNEROPS_ALERTS_WEBHOOK_SECRET is unset; webhook posts are signed with it")
        body = json.dumps(self.payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "partnerops-alerts",
                   **signed_headers(self.secret, body)}
        if self.delivery_id:
            headers[DELIVERY_HEADER] = self.delivery_id
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (configured URL)
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"webhook answered HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"webhook unreachable: {getattr(exc, 'reason', exc)}") from None


@contextmanager
def smtp_connection(smtp_url: str | None) -> Iterator[None]:
    """Expose `PARTNEROPS_SMTP_URL` as the Airflow connection `partnerops_smtp` while sending."""
    if not smtp_url or os.environ.get(_SMTP_CONN_ENV) == smtp_url:
        yield
        return
    before = os.environ.get(_SMTP_CONN_ENV)
    os.environ[_SMTP_CONN_ENV] = smtp_url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_SMTP_CONN_ENV, None)
        else:
            os.environ[_SMTP_CONN_ENV] = before

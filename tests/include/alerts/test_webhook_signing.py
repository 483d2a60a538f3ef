"""Signed webhooks: a real HTTP receiver checks every post's HMAC signature and timestamp.

The receiver (`alerts_fixtures.webhook`) verifies with `partnerops.alerts.verify_webhook`, as
docs/alerts.md tells a receiver to; posts it refuses are answered 401 and never collected.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from alerts_fixtures import FIXTURE_SCHEMA, Seed, Webhook

from partnerops.alerts import InvalidSignature, run_alerts, verify_webhook
from partnerops.alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, signed_headers
from partnerops.errors import UserError
from partnerops.settings import AlertSettings, get_settings

SECRET = "a-receiver-secret"  # pragma: allowlist secret (a test's own key)
BODY = b'{"text": "TM-2026-0001 C1 is at risk"}'
AS_OF = date(2026, 6, 20)
NOW = datetime(2026, 6, 20, 1, 0, tzinfo=UTC)


def run(url: str, **alerts):
    return run_alerts(url, AS_OF, now=NOW, settings=replace(get_settings(), alerts=AlertSettings(**alerts)),
                      schema=FIXTURE_SCHEMA)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_signature_verifies_only_the_body_and_time_it_was_made_for():
    now = 1_780_000_000
    headers = signed_headers(SECRET, BODY, now=now)
    assert headers[SIGNATURE_HEADER].startswith("v1=") and headers[TIMESTAMP_HEADER] == str(now)
    verify_webhook(SECRET, BODY, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=now + 299)

    cases = {
        "changed body": (SECRET, BODY.replace(b"at risk", b"on track"), headers[TIMESTAMP_HEADER], now),
        "other secret": ("another-secret", BODY, headers[TIMESTAMP_HEADER], now),
        "timestamp moved": (SECRET, BODY, str(now + 1), now),
        "replayed later": (SECRET, BODY, headers[TIMESTAMP_HEADER], now + 301),
        "from the future": (SECRET, BODY, headers[TIMESTAMP_HEADER], now - 301),
        "no timestamp": (SECRET, BODY, None, now),
        "not a number": (SECRET, BODY, "yesterday", now),
    }
    for case, (secret, body, timestamp, at) in cases.items():
        with pytest.raises(InvalidSignature):
            verify_webhook(secret, body, timestamp, headers[SIGNATURE_HEADER], now=at)
            pytest.fail(f"{case}: accepted")
    with pytest.raises(InvalidSignature, match="missing"):
        verify_webhook(SECRET, BODY, headers[TIMESTAMP_HEADER], None, now=now)


def test_during_a_secret_rotation_either_signature_is_enough():
    now = int(time.time())
    both = f"{signature('old-secret', now, BODY)}, {signature(SECRET, now, BODY)}"
    verify_webhook(SECRET, BODY, str(now), both)
    with pytest.raises(InvalidSignature):
        verify_webhook("third-secret", BODY, str(now), both)


def test_the_receiver_refuses_a_tampered_body_and_a_stale_timestamp(webhook: Webhook):
    good = signed_headers(webhook.secret, BODY)
    assert _post(webhook.url, BODY, good) == 200
    assert _post(webhook.url, BODY + b" ", good) == 401  # one byte added after signing
    assert _post(webhook.url, BODY, signed_headers(webhook.secret, BODY, now=time.time() - 600)) == 401
    assert _post(webhook.url, BODY, signed_headers("not-the-receivers", BODY)) == 401
    assert _post(webhook.url, BODY, {}) == 401
    assert len(webhook.posts) == 1 and len(webhook.rejected) == 4
    assert any("does not match" in r for r in webhook.rejected) and any("timestamp" in r for r in webhook.rejected)


def test_alert_posts_are_signed_and_a_retry_carries_the_same_delivery_id(seed: Seed, webhook: Webhook):
    seed.agreement()
    seed.status(AS_OF, "at_risk")
    # A sender with the wrong key is refused by the receiver: recorded as a failed attempt, retried.
    first = run(seed.url, webhook_url=webhook.url, webhook_secret="a-stale-key")
    assert (first.delivered, first.failed, first.still_pending) == (0, 1, 1)
    assert webhook.posts == [] and len(webhook.rejected) == 1
    assert "HTTP 401" in seed.query("select error from raw.alert_deliveries")[0][0]

    run(seed.url, webhook_url=webhook.url, webhook_secret=webhook.secret)
    run(seed.url, webhook_url=webhook.url, webhook_secret=webhook.secret)  # nothing left: no second post
    assert len(webhook.posts) == 1 and webhook.posts[0]["partnerops"]["rule"] == "at_risk"
    alert_id = seed.query("select alert_id from raw.alerts")[0][0]
    assert webhook.deliveries == [f"alert-{alert_id}"]


def test_a_webhook_without_a_secret_is_refused_before_anything_is_recorded(seed: Seed, webhook: Webhook):
    seed.agreement()
    seed.status(AS_OF, "at_risk")
    with pytest.raises(UserError, match="PARTNEROPS_ALERTS_WEBHOOK_SECRET"):
        run(seed.url, webhook_url=webhook.url)
    assert seed.query("select count(*) from raw.alerts") == [(0,)]


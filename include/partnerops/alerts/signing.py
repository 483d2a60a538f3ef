"""Signed webhooks: an HMAC-SHA256 signature with a timestamp on every webhook post.

A post carries two headers (docs/alerts.md, "Verifying a webhook"):

- `X-Partnerops-Timestamp`: the Unix time of the post, in whole seconds;
- `X-Partnerops-Signature`: `v1=<hex>`, HMAC-SHA256 keyed with the shared secret
  (`PARTNEROPS_ALERTS_WEBHOOK_SECRET`) over the bytes `<timestamp>.<body>`.

A receiver recomputes the signature over the raw body it got, compares in constant time and
refuses a timestamp older (or newer) than a few minutes, so a captured post cannot be replayed
later. `verify()` is that check, for receivers written in Python and for the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Partnerops-Timestamp"
SIGNATURE_HEADER = "X-Partnerops-Signature"
#: Names the alert or digest a post is about (`alert-<id>`, `digest-<id>`): a retry of the
#: same delivery carries the same value, so a receiver can drop a second copy.
DELIVERY_HEADER = "X-Partnerops-Delivery"
SCHEME = "v1"
#: How far a post's timestamp may be from the receiver's clock (seconds).
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(Exception):
    """A webhook post whose signature does not prove it came from partnerops, now."""


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Partnerops-Signature` value of `body` posted at `timestamp`."""
    if not secret:
        raise ValueError("a webhook secret is needed to sign a post")
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"{SCHEME}={digest.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers of a post of `body` made now."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, body: bytes, timestamp: str | None, signature_header: str | None, *,
           tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> None:
    """Check a received post; raises `InvalidSignature` saying why it is refused.

    `body` is the raw request body, as received (not re-serialised JSON). The signature
    header may hold several `v1=` values, comma-separated (as during a secret rotation);
    one match is enough.
    """
    if not timestamp or not signature_header:
        raise InvalidSignature(f"the {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header is missing")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise InvalidSignature(f"{TIMESTAMP_HEADER} is not a Unix time in seconds: {timestamp[:40]!r}")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > tolerance:
        raise InvalidSignature(f"the timestamp is {age:+.0f} s from now, more than the {tolerance:g} s allowed "
                               "(a replayed post, or a clock out of step)")
    expected = signature(secret, timestamp, body)
    offered = [part.strip() for part in signature_header.split(",")]
    if not any(hmac.compare_digest(expected.encode(), part.encode("utf-8", "replace")) for part in offered):
        raise InvalidSignature("the signature does not match the body (a changed body, or another secret)")

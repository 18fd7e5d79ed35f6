"""Verification of Stripe webhook deliveries: raw bytes and a header in, a trusted event dict out.

Why this is its own small pure function rather than ``stripe.Webhook.construct_event``:

* The HMAC is computed over the *raw* request body. Anything that parses and re-serialises the JSON first
  (a framework's ``request.json()``, a logging middleware) changes the bytes and breaks the signature, so the
  function takes ``bytes`` and never decodes before verifying.
* During a secret rotation (Stripe "roll secret" keeps the old one valid for a while) and when one endpoint
  receives events from more than one source, several secrets are valid at once; Stripe also sends one ``v1``
  signature per active secret. Any (secret, signature) pair may match.
* The timestamp is checked both ways. Stripe only rejects old timestamps; a timestamp far in the future
  means the sender's clock (or ours) is wrong, and accepting it would extend the replay window by the skew.
  It is checked *after* the signature, so the reason reported for a genuine-but-late delivery
  (``timestamp_outside_tolerance``) differs from that for a forgery (``signature_mismatch``).
* Each failure is a distinct exception type with a ``reason`` slug, used as a metrics label and in the 400
  response. No message ever contains a secret, nor the signatures received.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

SIGNATURE_SCHEME: Final = "v1"
DEFAULT_TOLERANCE_S: Final = 300

_SECRET_SPLIT = re.compile(r"[\s,]+")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


class WebhookVerificationError(Exception):
    """A delivery that must be answered with 400 and not processed. The peer's fault, or an attacker's."""

    reason: ClassVar[str] = "verification_failed"


class SignatureMissing(WebhookVerificationError):
    reason = "signature_missing"


class SignatureMalformed(WebhookVerificationError):
    reason = "signature_malformed"


class SignatureMismatch(WebhookVerificationError):
    reason = "signature_mismatch"


class TimestampOutsideTolerance(WebhookVerificationError):
    reason = "timestamp_outside_tolerance"


class PayloadInvalid(WebhookVerificationError):
    reason = "payload_invalid"


def parse_secrets(value: str) -> list[str]:
    """Split a configured secret list (``"whsec_a,whsec_b"`` or one per line) into its secrets.

    Order is preserved and duplicates are dropped. Anything that does not look like a webhook signing secret
    is refused at configuration time, because a mistyped secret would otherwise surface only as every delivery
    failing with ``signature_mismatch``. The error names the position, never the value.
    """
    secrets: list[str] = []
    for position, item in enumerate((s for s in _SECRET_SPLIT.split(value) if s), start=1):
        if not item.startswith("whsec_") or len(item) <= len("whsec_") or not item.isascii():
            raise ValueError(f"webhook secret #{position} is not a Stripe signing secret (whsec_...)")
        if item not in secrets:
            secrets.append(item)
    if not secrets:
        raise ValueError("no webhook signing secret configured")
    return secrets


def _signature(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload`` (tests, the fake server, tools)."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={_signature(payload, secret, timestamp)}"


def _parse_header(header: str) -> tuple[int, list[str]]:
    """``t=…,v1=…,v1=…,v0=…`` -> (timestamp, v1 signatures). Unknown schemes are ignored, as Stripe says."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key or not value:
            raise SignatureMalformed("Stripe-Signature header has an element that is not key=value")
        if key == "t":
            timestamps.append(value)
        elif key == SIGNATURE_SCHEME:
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise SignatureMalformed("Stripe-Signature header needs exactly one integer timestamp t=")
    if not signatures:
        raise SignatureMalformed(f"Stripe-Signature header has no {SIGNATURE_SCHEME} signature")
    return int(timestamps[0]), signatures


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _decode_event(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PayloadInvalid(f"webhook body is not UTF-8 JSON: {type(exc).__name__}") from None
    if not isinstance(event, dict):
        raise PayloadInvalid("webhook body is not a JSON object")
    if event.get("object", "event") != "event":
        raise PayloadInvalid("webhook body is not a snapshot event (object != 'event')")
    for field in ("id", "type"):
        if not isinstance(event.get(field), str) or not event[field]:
            raise PayloadInvalid(f"webhook event has no {field}")
    data = event.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("object"), Mapping):
        raise PayloadInvalid("webhook event has no data.object")
    return event


def verify_event(
    payload: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_S,
    now: int | None = None,
) -> dict[str, Any]:
    """Verify one delivery and return the decoded event.

    ``payload`` is the request body exactly as received. ``secrets`` are all currently valid signing secrets
    (see :func:`parse_secrets`); an empty list is a configuration bug and raises ``ValueError``, not a
    verification error. ``now`` is injectable for tests (Unix seconds).
    """
    if not secrets:
        raise ValueError("verify_event needs at least one webhook signing secret")
    if tolerance <= 0:
        raise ValueError("tolerance must be a positive number of seconds")
    if not isinstance(payload, bytes | bytearray):
        raise TypeError("payload must be the raw request body as bytes")
    if not signature_header or not signature_header.strip():
        raise SignatureMissing("no Stripe-Signature header")
    timestamp, signatures = _parse_header(signature_header)

    body = bytes(payload)
    candidates = [s for s in signatures if _HEX_SHA256.fullmatch(s)]
    # Every pair is compared even after a match would be found, so timing says nothing about which secret or
    # which position matched; the number of pairs is tiny.
    matched = False
    for secret in secrets:
        expected = _signature(body, secret, timestamp)
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureMismatch("no v1 signature matches any configured webhook secret")

    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise TimestampOutsideTolerance(
            f"signature timestamp is {current - timestamp:+d}s from now; tolerance is {tolerance}s"
        )
    return _decode_event(body)

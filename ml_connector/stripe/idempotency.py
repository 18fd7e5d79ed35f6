"""Deterministic Stripe idempotency keys, derived from *what we are doing* rather than generated at random.

Why not let stripe-python make them: the SDK puts a fresh random UUID on every POST, which protects only the
network retries *inside that one call*. Our unit of retry is bigger: a Temporal activity that timed out after
Stripe created the customer is run again from the top, in another process, maybe hours later. Only a key that
is a pure function of the business operation (``customer.create`` for company C and QuickBooks ListID L) makes
that second run replay Stripe's first response instead of creating a second customer.

Two rules shape the format:

* Stripe rejects a reused key whose request parameters differ (``idempotency_error``). A create is fine with a
  key of its identity alone, but an *update* must change key when its content changes, otherwise the second,
  different update of the same object would be refused. :func:`key` therefore takes ``params=`` for updates:
  the same update replays, a different one gets a new key.
* Keys are at most 255 characters and travel in an HTTP header. Parts are percent-encoded down to
  ``[A-Za-z0-9._-]`` (``:`` separates parts and ``~`` marks a hash, so neither can be forged by a part),
  and an over-long key keeps its readable head and replaces the tail by the SHA-256 of the whole key.

Stripe forgets keys after about 24 hours; beyond that a replay creates again. Workflows that can resume later
than that must also look for the object (e.g. by metadata) before creating it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final

PREFIX: Final = "mlc"
MAX_LENGTH: Final = 255
_HASH_MARK: Final = "~"
_ACTION = re.compile(r"[a-z][a-z0-9_.\-]*")
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def _encode_part(part: str | int) -> str:
    if isinstance(part, bool) or not isinstance(part, str | int):
        raise TypeError(f"idempotency key parts are str or int, got {type(part).__name__}")
    text = str(part)
    if not text:
        raise ValueError("idempotency key parts must not be empty (a missing id would make keys collide)")
    return "".join(ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text)


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in idempotent request parameters")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def params_fingerprint(params: Mapping[str, Any]) -> str:
    """A short, stable digest of request parameters: key order does not matter, any value change does."""
    canonical = json.dumps(
        params, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=_canonical
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:32]


def key(action: str, *parts: str | int, params: Mapping[str, Any] | None = None) -> str:
    """``mlc:{action}:{part}:…[:p{fingerprint}]``, at most 255 printable ASCII characters.

    ``key("customer.create", company, list_id)`` for a create; add ``params=`` for an update so that only an
    identical update replays.
    """
    if not _ACTION.fullmatch(action):
        raise ValueError(f"idempotency action must match {_ACTION.pattern}: {action!r}")
    if not parts:
        raise ValueError("an idempotency key needs at least one part identifying the object")
    pieces = [PREFIX, action, *(_encode_part(p) for p in parts)]
    if params is not None:
        pieces.append("p" + params_fingerprint(params))
    full = ":".join(pieces)
    if len(full) <= MAX_LENGTH:
        return full
    digest = hashlib.sha256(full.encode("ascii")).hexdigest()
    return full[: MAX_LENGTH - len(_HASH_MARK) - len(digest)] + _HASH_MARK + digest

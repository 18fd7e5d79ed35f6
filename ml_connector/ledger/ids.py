"""Deterministic identities for postings, so a re-run finds what it already posted and posts nothing twice.

Every posting has a *key* naming what it posts (``fee:txn_…``, ``refund:re_…``, ``payout:po_…``).
From the key come:

- the **ExternalGUID** (UUIDv5 in a fixed namespace), the exact duplicate check: look the transaction up
  by RefNumber (or date range for deposits, which have no RefNumber) and compare GUIDs;
- the **RefNumber**, at most 11 characters (the schema's limit for journal entries, credit memos and
  refunds, too short for any Stripe id): a two-letter kind prefix and nine base-32 characters of the
  key's SHA-256 (45 bits; a collision only makes a lookup return two candidates, and the GUID decides);
- a **memo** that spells out the Stripe ids for the bookkeeper.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

# uuid5(NAMESPACE_URL, "urn:ml-connector:stripe-ledger"), written out so it can never drift. Never change
# it: the GUIDs already in company files were derived from it.
STRIPE_LEDGER_NAMESPACE = uuid.UUID("c3b5457b-f6f5-565a-bbaf-9dfc79340690")
REF_NUMBER_LEN = 11

PREFIXES: dict[str, str] = {
    "fee": "SF",
    "payout_fees": "SG",
    "refund": "SR",
    "dispute": "SD",
    "dispute_won": "SW",
    "dispute_lost": "SL",
    "payout": "SP",
    "payout_failed": "SX",
    "adjustment": "SA",
    "payment": "SC",
}


def posting_key(kind: str, stripe_id: str) -> str:
    if kind not in PREFIXES:
        raise ValueError(f"unknown posting kind {kind!r}")
    if not stripe_id or stripe_id != stripe_id.strip():
        raise ValueError(f"a Stripe id must be non-empty with no surrounding whitespace: {stripe_id!r}")
    return f"{kind}:{stripe_id}"


def external_guid(key: str) -> str:
    """``{8-4-4-4-12 hex digits}`` in upper case, as QuickBooks prints GUIDs."""
    return "{" + str(uuid.uuid5(STRIPE_LEDGER_NAMESPACE, key)).upper() + "}"


def ref_number(key: str) -> str:
    kind = key.split(":", 1)[0]
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    tail = base64.b32encode(digest).decode("ascii")[: REF_NUMBER_LEN - 2]
    return PREFIXES[kind] + tail

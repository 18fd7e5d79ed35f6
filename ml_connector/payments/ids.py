"""Telling Stripe ids apart, for `ml-connector replay ID` and for routing what a workflow was started with."""

from __future__ import annotations

import enum
import re

_ID = re.compile(r"^[A-Za-z0-9_]{3,255}$")


class IdKind(enum.StrEnum):
    EVENT = "event"
    PAYMENT_INTENT = "payment_intent"
    CHARGE = "charge"
    INVOICE = "invoice"
    CUSTOMER = "customer"


_PREFIXES: tuple[tuple[str, IdKind], ...] = (
    ("evt_", IdKind.EVENT),
    ("pi_", IdKind.PAYMENT_INTENT),
    ("ch_", IdKind.CHARGE),
    ("py_", IdKind.CHARGE),  # non-card payments are charges with a py_ prefix
    ("in_", IdKind.INVOICE),
    ("cus_", IdKind.CUSTOMER),
)


def id_kind(stripe_id: str) -> IdKind:
    """The kind of a Stripe id by its prefix; ValueError names what is accepted."""
    value = stripe_id.strip()
    if _ID.match(value):
        for prefix, kind in _PREFIXES:
            if value.startswith(prefix):
                return kind
    raise ValueError(
        f"{stripe_id!r} is not a Stripe event, PaymentIntent, charge, invoice or customer id "
        "(evt_…, pi_…, ch_…, py_…, in_…, cus_…)"
    )

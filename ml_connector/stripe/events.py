"""Which workflow a verified Stripe event belongs to. Pure: a mapping in, a :class:`Route` (or ``None``) out.

Why route by a *key* and not by the event: Stripe reports one payment several times
(``payment_intent.succeeded``, ``charge.succeeded``, ``invoice.paid``, ``invoice_payment.paid``), in no
guaranteed order, possibly more than once each. Deriving one deterministic workflow id from the payment itself
(the PaymentIntent id, or the charge id for a charge made without a PaymentIntent) makes every one of those
events land on the same workflow (signal-with-start), which is what makes "book it in QuickBooks exactly once"
possible. The event only tells the workflow *that* something happened; the workflow re-fetches the object from
Stripe before acting, because snapshot payloads may be stale or arrive out of order.

Shapes follow stripe-python 16 (API ``2026-10-28``): an Invoice no longer carries
``payment_intent``/``charge``; its payments are InvoicePayment objects (``payment.type`` in
``payment_intent``/``charge``/``payment_record``), present on the invoice only when ``payments`` was included.
An endpoint pinned to an older API version still sends the old top-level ``payment_intent``/``charge`` on
invoices, so both shapes are read. When an invoice event names no single payment, the route is keyed by the
invoice id and the workflow looks the payment up.

Refunds are keyed by the payment they reverse, so one workflow per payment reconciles all of its refunds (a
``charge.refunded`` event carries the charge, not the refund); disputes by the dispute; payouts by the payout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final


class RouteKind(StrEnum):
    PAYMENT = "payment"
    CUSTOMER = "customer"
    REFUND = "refund"
    DISPUTE = "dispute"
    PAYOUT = "payout"


class KeyKind(StrEnum):
    """What kind of Stripe object the route key names."""

    PAYMENT_INTENT = "payment_intent"
    CHARGE = "charge"
    INVOICE = "invoice"  # no payment id in the event: the workflow must look the payment up
    CUSTOMER = "customer"
    REFUND = "refund"
    DISPUTE = "dispute"
    PAYOUT = "payout"


class EventShapeError(ValueError):
    """An event of a type we handle whose object lacks what routing needs. Never dropped silently."""


@dataclass(frozen=True)
class RouteTarget:
    """What a router reads from the event's object: the workflow kind, its key, and the ids it names."""

    kind: RouteKind
    key: str
    key_kind: KeyKind
    customer_id: str | None = None
    invoice_id: str | None = None
    payment_key: str | None = None  # the PaymentIntent/charge concerned, when the event names one


@dataclass(frozen=True, kw_only=True)
class Route(RouteTarget):
    """A routed event: its target plus the envelope (id, type, object, mode, time) the gateway stores."""

    event_id: str
    event_type: str
    object_id: str
    livemode: bool
    created: datetime | None = None

    def workflow_id(self, company: str) -> str:
        return workflow_id(self.kind, company, self.key)


_ID = re.compile(r"[A-Za-z0-9_\-]{1,255}")


# The workflow each route reaches. Payments: ``payment/{company}/{pi_…|ch_…}``; Stripe customers:
# ``stripe-customer/{company}/{cus_…}`` (workflows/stripe_customer.py); refunds, disputes and payouts: the
# company's one ledger workflow ``ledger/{company}`` (``ledger_workflow_id``, re-exported by
# ml_connector/ledger/signals.py).
_WORKFLOW_PREFIX: Final[Mapping[RouteKind, str]] = {
    RouteKind.PAYMENT: "payment",
    RouteKind.CUSTOMER: "stripe-customer",
}


def ledger_workflow_id(company_id: str) -> str:
    """The company's one ledger workflow. Spelled here, with the other routes, and re-exported by
    :mod:`ml_connector.ledger.signals`: the ledger imports Stripe's side, never the other way round."""
    return f"ledger/{company_id}"


def workflow_id(kind: RouteKind, company: str, key: str) -> str:
    """The id of the workflow an event of this kind is signalled to: the same business object always maps to
    the same workflow id, and this function is the only place that spells it."""
    if not company or "/" in company:
        raise ValueError("company id must be non-empty and contain no '/'")
    if kind not in _WORKFLOW_PREFIX:
        return ledger_workflow_id(company)
    if not _ID.fullmatch(key):
        raise ValueError("workflow key must be a Stripe object id")
    return f"{_WORKFLOW_PREFIX[kind]}/{company}/{key}"


def payment_workflow_id(company: str, key: str) -> str:
    return workflow_id(RouteKind.PAYMENT, company, key)


def customer_workflow_id(company: str, customer_id: str) -> str:
    return workflow_id(RouteKind.CUSTOMER, company, customer_id)


def _ref(value: Any) -> str | None:
    """An expandable field: either an id string or an expanded object carrying ``id``."""
    if isinstance(value, str):
        ref = value
    elif isinstance(value, Mapping) and isinstance(value.get("id"), str):
        ref = value["id"]
    else:
        return None
    if not _ID.fullmatch(ref):
        raise EventShapeError("object reference is not a Stripe id")
    return ref


def _object_id(obj: Mapping[str, Any], event_type: str) -> str:
    ref = _ref(obj.get("id"))
    if ref is None:
        raise EventShapeError(f"{event_type} event object has no id")
    return ref


def _charge_payment(charge: Mapping[str, Any], charge_id: str) -> tuple[str, KeyKind]:
    pi = _ref(charge.get("payment_intent"))
    return (pi, KeyKind.PAYMENT_INTENT) if pi else (charge_id, KeyKind.CHARGE)


def _invoice_payment_ref(invoice_payment: Mapping[str, Any]) -> tuple[str, KeyKind] | None:
    payment = invoice_payment.get("payment")
    if not isinstance(payment, Mapping):
        return None
    kind = payment.get("type")
    if kind == "payment_intent" and (pi := _ref(payment.get("payment_intent"))):
        return pi, KeyKind.PAYMENT_INTENT
    if kind == "charge" and (ch := _ref(payment.get("charge"))):
        return ch, KeyKind.CHARGE
    return None  # payment_record (paid outside Stripe) or an unknown future type


def _route_payment_intent(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    return RouteTarget(RouteKind.PAYMENT, oid, KeyKind.PAYMENT_INTENT, customer_id=_ref(obj.get("customer")))


def _route_charge(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    key, key_kind = _charge_payment(obj, oid)
    return RouteTarget(RouteKind.PAYMENT, key, key_kind, customer_id=_ref(obj.get("customer")))


def _route_invoice(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    customer = _ref(obj.get("customer"))
    # Older API versions: the invoice names its payment directly.
    if pi := _ref(obj.get("payment_intent")):
        return RouteTarget(RouteKind.PAYMENT, pi, KeyKind.PAYMENT_INTENT, customer, oid)
    if ch := _ref(obj.get("charge")):
        return RouteTarget(RouteKind.PAYMENT, ch, KeyKind.CHARGE, customer, oid)
    # Current API: payments are InvoicePayments, present only when included. Exactly one paid payment gives
    # a key; none or several (partial payments) leave it to the workflow, keyed by the invoice.
    payments = obj.get("payments")
    entries = payments.get("data") if isinstance(payments, Mapping) else None
    refs = {
        ref
        for entry in entries or ()
        if isinstance(entry, Mapping) and entry.get("status") == "paid"
        for ref in [_invoice_payment_ref(entry)]
        if ref is not None
    }
    if len(refs) == 1:
        key, key_kind = refs.pop()
        return RouteTarget(RouteKind.PAYMENT, key, key_kind, customer, oid)
    return RouteTarget(RouteKind.PAYMENT, oid, KeyKind.INVOICE, customer, oid)


def _route_invoice_payment(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    invoice_id = _ref(obj.get("invoice"))
    ref = _invoice_payment_ref(obj)
    if ref is not None:
        return RouteTarget(RouteKind.PAYMENT, ref[0], ref[1], invoice_id=invoice_id)
    if invoice_id is None:
        raise EventShapeError("invoice_payment event names neither a payment nor an invoice")
    return RouteTarget(RouteKind.PAYMENT, invoice_id, KeyKind.INVOICE, invoice_id=invoice_id)


def _route_customer(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    return RouteTarget(RouteKind.CUSTOMER, oid, KeyKind.CUSTOMER, customer_id=oid)


def _route_charge_refunded(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    key, key_kind = _charge_payment(obj, oid)
    return RouteTarget(RouteKind.REFUND, key, key_kind, _ref(obj.get("customer")), payment_key=key)


def _route_refund(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    pi, ch = _ref(obj.get("payment_intent")), _ref(obj.get("charge"))
    customer = _ref(obj.get("customer"))
    if pi:
        return RouteTarget(RouteKind.REFUND, pi, KeyKind.PAYMENT_INTENT, customer, payment_key=pi)
    if ch:
        return RouteTarget(RouteKind.REFUND, ch, KeyKind.CHARGE, customer, payment_key=ch)
    return RouteTarget(RouteKind.REFUND, oid, KeyKind.REFUND, customer)  # e.g. a customer-balance refund


def _route_dispute(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    payment = _ref(obj.get("payment_intent")) or _ref(obj.get("charge"))
    return RouteTarget(RouteKind.DISPUTE, oid, KeyKind.DISPUTE, payment_key=payment)


def _route_payout(obj: Mapping[str, Any], oid: str) -> RouteTarget:
    return RouteTarget(RouteKind.PAYOUT, oid, KeyKind.PAYOUT)


_PAYMENT_KEY_KINDS: Final = frozenset({KeyKind.PAYMENT_INTENT, KeyKind.CHARGE})
# Money movements after the payment, posted by the clearing-account ledger (one workflow per company).
LEDGER_KINDS: Final = frozenset({RouteKind.REFUND, RouteKind.DISPUTE, RouteKind.PAYOUT})

_Router = Callable[[Mapping[str, Any], str], RouteTarget]

_BY_TYPE: Final[Mapping[str, _Router]] = {
    "payment_intent.succeeded": _route_payment_intent,
    "charge.succeeded": _route_charge,
    "charge.captured": _route_charge,
    "invoice.paid": _route_invoice,
    "invoice.payment_succeeded": _route_invoice,
    "invoice_payment.paid": _route_invoice_payment,
    "customer.created": _route_customer,
    "customer.updated": _route_customer,
    "customer.deleted": _route_customer,
    "charge.refunded": _route_charge_refunded,
    "charge.refund.updated": _route_refund,
}
# Every event type routed by name: what the webhook endpoint must subscribe to (``ml-connector check`` and
# ``webhook setup`` take it from here, so the subscription can never drift from the router).
ROUTED_EVENT_TYPES: Final[tuple[str, ...]] = tuple(_BY_TYPE)
# Whole families, so that event types Stripe adds later (payout.reconciliation_completed came late)
# still route.
_BY_PREFIX: Final[tuple[tuple[str, _Router], ...]] = (
    ("refund.", _route_refund),
    ("charge.dispute.", _route_dispute),
    ("payout.", _route_payout),
)


def is_routed(event_type: str) -> bool:
    """Whether an event of this type reaches a workflow (by name, or as a member of a routed family)."""
    return _router_for(event_type) is not None


def _router_for(event_type: str) -> _Router | None:
    if event_type in _BY_TYPE:
        return _BY_TYPE[event_type]
    for prefix, router in _BY_PREFIX:
        if event_type.startswith(prefix):
            return router
    return None


def route(event: Mapping[str, Any]) -> Route | None:
    """Route a verified event (see ``webhooks.verify_event``); ``None`` for event types we do not act on.

    Raises :class:`EventShapeError` when an event of a handled type cannot be routed, so that it is parked and
    looked at instead of silently dropped.
    """
    event_type = event.get("type")
    if not isinstance(event_type, str):
        raise EventShapeError("event has no type")
    router = _router_for(event_type)
    if router is None:
        return None
    event_id = event.get("id")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(event_id, str) or not isinstance(obj, Mapping):
        raise EventShapeError(f"{event_type} event lacks id or data.object")
    oid = _object_id(obj, event_type)
    target = router(obj, oid)
    created = event.get("created")
    if not target.payment_key:
        # A payment's own key is the payment concerned, when the router named no other.
        target = replace(target, payment_key=target.key if target.key_kind in _PAYMENT_KEY_KINDS else None)
    return Route(
        **vars(target),
        event_id=event_id,
        event_type=event_type,
        object_id=oid,
        livemode=event.get("livemode") is True,
        created=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
    )

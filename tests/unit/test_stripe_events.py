"""Event routing: every way Stripe reports one payment lands on that payment's one workflow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ml_connector.stripe.events import (
    EventShapeError,
    KeyKind,
    RouteKind,
    customer_workflow_id,
    payment_workflow_id,
    route,
)

CREATED = 1_767_225_600
PI = "pi_3QxYzA2eZvKYlo2C1abcDEF0"
CH = "ch_3QxYzA2eZvKYlo2C1xyz9876"
CUS = "cus_RzT5kq8LmN0pQa"
INV = "in_1QxYzA2eZvKYlo2CqWeRtY"


def event(event_type: str, obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A snapshot event envelope shaped like stripe.Event (API 2026-10-28)."""
    return {
        "id": "evt_1QxYzB2eZvKYlo2CmNoPqRsT",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": CREATED,
        "data": {"object": obj, "previous_attributes": None},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_Ab12Cd34", "idempotency_key": None},
        "type": event_type,
        **extra,
    }


def payment_intent() -> dict[str, Any]:
    return {
        "id": PI,
        "object": "payment_intent",
        "amount": 12500,
        "amount_received": 12500,
        "currency": "usd",
        "customer": CUS,
        "latest_charge": CH,
        "status": "succeeded",
        "metadata": {},
    }


def charge(payment_intent: str | None = PI, **extra: Any) -> dict[str, Any]:
    return {
        "id": CH,
        "object": "charge",
        "amount": 12500,
        "amount_captured": 12500,
        "amount_refunded": 0,
        "balance_transaction": "txn_3QxYzA2eZvKYlo2C1",
        "captured": True,
        "currency": "usd",
        "customer": CUS,
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": False,
        "status": "succeeded",
        **extra,
    }


def invoice_payment(kind: str = "payment_intent", status: str = "paid", ref: str = PI) -> dict[str, Any]:
    payment: dict[str, Any] = {"type": kind, "payment_intent": None, "charge": None, "payment_record": None}
    payment[kind] = ref
    return {
        "id": "inpay_1QxYzA2eZvKYlo2Cabc",
        "object": "invoice_payment",
        "amount_paid": 12500 if status == "paid" else None,
        "amount_requested": 12500,
        "currency": "usd",
        "invoice": INV,
        "is_default": True,
        "livemode": False,
        "payment": payment,
        "status": status,
        "status_transitions": {"canceled_at": None, "paid_at": CREATED},
    }


def invoice(payments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": INV,
        "object": "invoice",
        "amount_due": 12500,
        "amount_paid": 12500,
        "amount_remaining": 0,
        "currency": "usd",
        "customer": CUS,
        "number": "A1B2C3D4-0001",
        "status": "paid",
    }
    if payments is not None:
        obj["payments"] = {
            "object": "list",
            "data": payments,
            "has_more": False,
            "url": "/v1/invoice_payments",
        }
    return obj


def test_a_succeeded_payment_intent_routes_to_its_payment_workflow() -> None:
    r = route(event("payment_intent.succeeded", payment_intent()))
    assert r is not None
    assert (r.kind, r.key, r.key_kind) == (RouteKind.PAYMENT, PI, KeyKind.PAYMENT_INTENT)
    assert r.customer_id == CUS
    assert r.payment_key == PI
    assert r.event_id == "evt_1QxYzB2eZvKYlo2CmNoPqRsT"
    assert r.object_id == PI
    assert r.created == datetime(2026, 1, 1, tzinfo=UTC)
    assert r.livemode is False


@pytest.mark.parametrize("event_type", ["charge.succeeded", "charge.captured"])
def test_a_charge_of_a_payment_intent_routes_to_the_payment_intents_workflow(event_type: str) -> None:
    r = route(event(event_type, charge()))
    assert r is not None
    assert (r.kind, r.key, r.key_kind, r.object_id) == (RouteKind.PAYMENT, PI, KeyKind.PAYMENT_INTENT, CH)


def test_a_charge_without_payment_intent_is_keyed_by_the_charge() -> None:
    r = route(event("charge.succeeded", charge(payment_intent=None)))
    assert r is not None
    assert (r.kind, r.key, r.key_kind) == (RouteKind.PAYMENT, CH, KeyKind.CHARGE)


def test_an_expanded_payment_intent_on_a_charge_is_read_by_its_id() -> None:
    r = route(event("charge.succeeded", charge(payment_intent=payment_intent())))  # type: ignore[arg-type]
    assert r is not None and r.key == PI


def test_all_reports_of_one_payment_share_one_workflow_id() -> None:
    events = [
        event("payment_intent.succeeded", payment_intent()),
        event("charge.succeeded", charge()),
        event("invoice_payment.paid", invoice_payment()),
        event("invoice.paid", invoice([invoice_payment()])),
    ]
    ids = set()
    for e in events:
        r = route(e)
        assert r is not None
        ids.add(r.workflow_id("acme"))
    assert ids == {f"payment/acme/{PI}"}


def test_an_invoice_payment_by_payment_intent_routes_to_that_payment() -> None:
    r = route(event("invoice_payment.paid", invoice_payment()))
    assert r is not None
    assert (r.kind, r.key, r.key_kind, r.invoice_id) == (RouteKind.PAYMENT, PI, KeyKind.PAYMENT_INTENT, INV)


def test_an_invoice_payment_by_bare_charge_routes_to_the_charge() -> None:
    r = route(event("invoice_payment.paid", invoice_payment("charge", ref=CH)))
    assert r is not None
    assert (r.key, r.key_kind) == (CH, KeyKind.CHARGE)


def test_an_invoice_paid_outside_stripe_is_routed_by_invoice_for_a_lookup() -> None:
    r = route(event("invoice_payment.paid", invoice_payment("payment_record", ref="prec_1QxYz")))
    assert r is not None
    assert (r.kind, r.key, r.key_kind, r.payment_key) == (RouteKind.PAYMENT, INV, KeyKind.INVOICE, None)


@pytest.mark.parametrize("event_type", ["invoice.paid", "invoice.payment_succeeded"])
def test_an_invoice_event_without_payments_is_routed_by_invoice_id(event_type: str) -> None:
    r = route(event(event_type, invoice()))
    assert r is not None
    assert (r.kind, r.key, r.key_kind) == (RouteKind.PAYMENT, INV, KeyKind.INVOICE)
    assert (r.invoice_id, r.customer_id, r.payment_key) == (INV, CUS, None)


def test_an_invoice_with_its_single_paid_payment_included_routes_to_that_payment() -> None:
    payments = [invoice_payment(status="canceled", ref="pi_3Old"), invoice_payment()]
    r = route(event("invoice.paid", invoice(payments)))
    assert r is not None
    assert (r.key, r.key_kind, r.invoice_id) == (PI, KeyKind.PAYMENT_INTENT, INV)


def test_an_invoice_paid_by_several_payments_is_left_to_the_workflow() -> None:
    payments = [invoice_payment(ref="pi_3First"), invoice_payment("charge", ref="ch_3Second")]
    r = route(event("invoice.paid", invoice(payments)))
    assert r is not None
    assert (r.key, r.key_kind) == (INV, KeyKind.INVOICE)


def test_an_invoice_in_an_older_api_version_still_names_its_payment_intent() -> None:
    legacy = {**invoice(), "payment_intent": PI, "charge": CH}
    r = route(event("invoice.paid", legacy, api_version="2024-06-20"))
    assert r is not None
    assert (r.key, r.key_kind) == (PI, KeyKind.PAYMENT_INTENT)


@pytest.mark.parametrize("event_type", ["customer.created", "customer.updated", "customer.deleted"])
def test_customer_events_route_to_the_customer_workflow(event_type: str) -> None:
    customer = {
        "id": CUS,
        "object": "customer",
        "email": "ap@acme.example",
        "name": "Acme Ltd",
        "metadata": {},
    }
    r = route(event(event_type, customer))
    assert r is not None
    assert (r.kind, r.key, r.key_kind, r.customer_id) == (RouteKind.CUSTOMER, CUS, KeyKind.CUSTOMER, CUS)
    assert r.workflow_id("acme") == f"stripe-customer/acme/{CUS}" == customer_workflow_id("acme", CUS)
    from workflows.stripe_customer import workflow_id as started_as

    assert started_as("acme", CUS) == r.workflow_id("acme"), "the id the gateway starts is the id the route names"


def test_a_refunded_charge_routes_to_the_refund_workflow_of_its_payment() -> None:
    r = route(event("charge.refunded", charge(amount_refunded=2500, refunded=False)))
    assert r is not None
    assert r.workflow_id("acme") == "ledger/acme", "refunds are posted by the company's ledger workflow"
    assert (r.kind, r.key, r.key_kind, r.payment_key) == (RouteKind.REFUND, PI, KeyKind.PAYMENT_INTENT, PI)


@pytest.mark.parametrize(
    "event_type", ["refund.created", "refund.updated", "refund.failed", "charge.refund.updated"]
)
def test_refund_events_route_to_the_refund_workflow_of_the_payment_they_reverse(event_type: str) -> None:
    refund = {
        "id": "re_3QxYzA2eZvKYlo2C1",
        "object": "refund",
        "amount": 2500,
        "charge": CH,
        "currency": "usd",
        "payment_intent": PI,
        "status": "succeeded",
    }
    r = route(event(event_type, refund))
    assert r is not None
    assert (r.kind, r.key, r.object_id) == (RouteKind.REFUND, PI, "re_3QxYzA2eZvKYlo2C1")


def test_a_refund_of_a_bare_charge_is_keyed_by_the_charge() -> None:
    refund = {"id": "re_1", "object": "refund", "amount": 100, "charge": CH, "payment_intent": None}
    r = route(event("refund.created", refund))
    assert r is not None and (r.key, r.key_kind) == (CH, KeyKind.CHARGE)


@pytest.mark.parametrize(
    "event_type",
    [
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
    ],
)
def test_dispute_events_route_to_the_dispute_naming_its_payment(event_type: str) -> None:
    dispute = {
        "id": "du_1QxYzA2eZvKYlo2C",
        "object": "dispute",
        "amount": 12500,
        "charge": CH,
        "currency": "usd",
        "payment_intent": PI,
        "reason": "fraudulent",
        "status": "needs_response",
    }
    r = route(event(event_type, dispute))
    assert r is not None
    assert (r.kind, r.key, r.key_kind, r.payment_key) == (
        RouteKind.DISPUTE,
        "du_1QxYzA2eZvKYlo2C",
        KeyKind.DISPUTE,
        PI,
    )


@pytest.mark.parametrize("event_type", ["payout.paid", "payout.failed", "payout.reconciliation_completed"])
def test_payout_events_route_to_the_payout(event_type: str) -> None:
    payout = {
        "id": "po_1QxYzA2eZvKYlo2C",
        "object": "payout",
        "amount": 120000,
        "arrival_date": CREATED,
        "currency": "usd",
        "status": "paid",
    }
    r = route(event(event_type, payout))
    assert r is not None
    assert (r.kind, r.key, r.key_kind) == (RouteKind.PAYOUT, "po_1QxYzA2eZvKYlo2C", KeyKind.PAYOUT)


@pytest.mark.parametrize(
    "event_type",
    [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "charge.failed",
        "charge.updated",
        "invoice.created",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "customer.source.created",
        "product.created",
    ],
)
def test_events_the_connector_does_not_act_on_are_ignored(event_type: str) -> None:
    assert route(event(event_type, {"id": "obj_1", "object": "whatever"})) is None


def test_a_handled_event_whose_object_has_no_id_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(EventShapeError):
        route(event("payment_intent.succeeded", {"object": "payment_intent", "amount": 1}))


def test_a_handled_event_without_data_object_is_an_error() -> None:
    with pytest.raises(EventShapeError):
        route({"id": "evt_1", "type": "charge.succeeded", "data": {}})


def test_an_id_that_is_not_a_stripe_id_is_refused() -> None:
    with pytest.raises(EventShapeError):
        route(event("charge.succeeded", charge(payment_intent="pi_1/../../x")))


def test_workflow_ids_are_deterministic_and_unambiguous() -> None:
    assert payment_workflow_id("acme", PI) == f"payment/acme/{PI}"
    assert payment_workflow_id("acme", PI) == payment_workflow_id("acme", PI)
    with pytest.raises(ValueError):
        payment_workflow_id("acme/east", PI)
    with pytest.raises(ValueError):
        payment_workflow_id("", PI)
    with pytest.raises(ValueError):
        customer_workflow_id("acme", "cus 1")


def test_the_subscribed_events_are_exactly_what_the_router_handles():
    """`ml-connector check` and `webhook setup` take the subscription from the router table, so an event the
    router handles (charge.captured, charge.refund.updated) can never go unsubscribed."""
    from ml_connector.stripe.endpoints import LEDGER_EVENTS, REQUIRED_EVENTS
    from ml_connector.stripe.events import ROUTED_EVENT_TYPES, is_routed

    assert REQUIRED_EVENTS == ROUTED_EVENT_TYPES
    assert {"charge.captured", "charge.refund.updated"} <= set(REQUIRED_EVENTS)
    assert all(is_routed(e) for e in (*REQUIRED_EVENTS, *LEDGER_EVENTS))

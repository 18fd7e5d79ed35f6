"""PaymentIntents, charges, refunds, balance transactions and events through the real SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from ml_connector.fakestripe import FakeStripeServer
from ml_connector.fakestripe.money import available_on, processing_fee


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    server.fake.reset()
    return stripe.StripeClient("sk_test_payments", base_addresses={"api": server.url}, max_network_retries=0)


def _paid(client: stripe.StripeClient, amount: int = 10_000) -> stripe.PaymentIntent:
    cust = client.v1.customers.create(params={"email": "payer@acme.test"})
    return client.v1.payment_intents.create(params={
        "amount": amount, "currency": "usd", "customer": cust.id, "payment_method": "pm_card_visa",
        "confirm": True, "metadata": {"order": "42"}, "description": "Order 42",
    })


def test_fees_are_2_9_percent_plus_30_rounded_half_up() -> None:
    assert processing_fee(10_000) == 320
    assert processing_fee(1_000) == 59  # 29.0 + 30
    assert processing_fee(50) == 31  # 1.45 → 1
    assert processing_fee(1_500) == 74  # 43.5 → 44 (half-up)
    assert available_on(1_700_000_000) == (1_700_000_000 // 86400 + 2) * 86400


def test_a_confirmed_card_payment_succeeds_with_a_charge_and_balance_transaction(
    client: stripe.StripeClient,
) -> None:
    pi = _paid(client)
    assert pi.status == "succeeded" and pi.amount_received == 10_000 and pi.latest_charge
    charge = client.v1.charges.retrieve(str(pi.latest_charge))
    assert charge.amount == charge.amount_captured == 10_000 and charge.paid and not charge.refunded
    assert charge.customer == pi.customer and charge.metadata.to_dict() == {"order": "42"}
    assert charge.billing_details is not None and charge.description == "Order 42"
    txn = client.v1.balance_transactions.retrieve(str(charge.balance_transaction))
    assert (txn.amount, txn.fee, txn.net, txn.source, txn.type) == (10_000, 320, 9_680, charge.id, "charge")
    assert txn.fee_details[0].type == "stripe_fee" and txn.available_on > txn.created
    assert [c.id for c in client.v1.charges.list(params={"payment_intent": pi.id}).data] == [charge.id]


def test_a_declined_card_raises_card_error_and_records_payment_failed(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(params={
            "amount": 2_000, "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": True,
        })
    error = raised.value
    assert error.http_status == 402 and error.code == "card_declined"
    assert error.error is not None and error.error.decline_code == "generic_decline"
    pi = client.v1.payment_intents.list().data[0]
    assert pi.status == "requires_payment_method" and pi.last_payment_error is not None
    failed = client.v1.events.list(params={"type": "payment_intent.payment_failed"}).data
    assert [e.data.object["id"] for e in failed] == [pi.id]
    assert client.v1.charges.retrieve(str(pi.latest_charge)).status == "failed"


def test_two_partial_refunds_then_no_more_than_what_is_left(client: stripe.StripeClient) -> None:
    pi = _paid(client)
    first = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 2_500, "reason": "duplicate"})
    second = client.v1.refunds.create(params={"charge": str(pi.latest_charge), "amount": 5_000})
    charge = client.v1.charges.retrieve(str(pi.latest_charge))
    assert (charge.amount_refunded, charge.refunded) == (7_500, False)
    assert first.status == second.status == "succeeded" and first.payment_intent == pi.id
    refund_txn = client.v1.balance_transactions.retrieve(str(first.balance_transaction))
    assert (refund_txn.amount, refund_txn.fee, refund_txn.type) == (-2_500, 0, "refund")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 2_501})
    assert raised.value.code == "amount_too_large"
    rest = client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 2_500 and client.v1.charges.retrieve(charge.id).refunded is True
    refunded_events = client.v1.events.list(params={"type": "charge.refunded"}).data
    assert len(refunded_events) == 3
    assert len(client.v1.refunds.list(params={"charge": charge.id}).data) == 3


def test_payment_intent_metadata_can_be_updated(client: stripe.StripeClient) -> None:
    pi = _paid(client)
    pi = client.v1.payment_intents.update(pi.id, params={"metadata": {"qb": "synced"}})
    assert pi.metadata.to_dict() == {"order": "42", "qb": "synced"}


def test_events_filter_by_type_types_and_created_and_paginate(
    server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    client.v1.customers.create(params={"name": "early"})
    server.fake.advance_time(100)
    later = server.fake.store.now()
    pi = _paid(client)
    assert [e.type for e in client.v1.events.list(params={"type": "charge.succeeded"}).data] == ["charge.succeeded"]
    both = client.v1.events.list(params={"types": ["customer.created", "payment_intent.succeeded"]}).data
    assert [e.type for e in both] == ["payment_intent.succeeded", "customer.created", "customer.created"]
    recent = client.v1.events.list(params={"created": {"gte": later}}).data
    assert "customer.created" in [e.type for e in recent] and len(recent) == 4
    everything = list(client.v1.events.list(params={"limit": 2}).auto_paging_iter())
    assert len(everything) == 5
    event = client.v1.events.retrieve(everything[0].id)
    assert event.api_version == "2026-10-28.endive" and event.livemode is False
    assert event.request is not None and event.request.id and event.request.idempotency_key
    assert event.data.object["id"] == pi.id

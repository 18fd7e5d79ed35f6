"""Invoices, invoice items and InvoicePayments through the real stripe SDK over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import stripe

from ml_connector.fakestripe import FakeStripeServer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    server.fake.reset()
    return stripe.StripeClient("sk_test_invoices", base_addresses={"api": server.url}, max_network_retries=0)


def _draft(client: stripe.StripeClient, **extra: object) -> stripe.Invoice:
    cust = client.v1.customers.create(params={"email": "ap@acme.test", "name": "Acme"})
    params: dict[str, object] = {"customer": cust.id, "collection_method": "send_invoice", "days_until_due": 30}
    params.update(extra)
    return client.v1.invoices.create(params=params)  # type: ignore[arg-type]


def _with_items(client: stripe.StripeClient) -> stripe.Invoice:
    inv = _draft(client, metadata={"qb_txn_id": "1A2B"}, description="March services")
    client.v1.invoice_items.create(params={"invoice": inv.id, "amount": 12_500, "description": "Consulting"})
    client.v1.invoice_items.create(
        params={"invoice": inv.id, "quantity": 3, "unit_amount_decimal": Decimal("1999.5"), "description": "Licences"}
    )
    return client.v1.invoices.retrieve(inv.id)


def test_a_draft_invoice_totals_its_items(client: stripe.StripeClient) -> None:
    inv = _with_items(client)
    assert inv.status == "draft" and inv.number is None and inv.hosted_invoice_url is None
    assert [line.amount for line in inv.lines.data] == [12_500, 5_999]  # 3 × 1999.5 = 5998.5, half-up
    assert inv.subtotal == inv.total == inv.amount_due == inv.amount_remaining == 18_499
    assert inv.amount_paid == 0
    assert inv.due_date == inv.created + 30 * 86400
    assert inv.metadata is not None and inv.metadata.to_dict() == {"qb_txn_id": "1A2B"}


def test_finalizing_numbers_the_invoice_and_opens_a_default_invoice_payment(client: stripe.StripeClient) -> None:
    inv = client.v1.invoices.finalize_invoice(_with_items(client).id)
    assert inv.status == "open"
    assert inv.number is not None and inv.number.endswith("-0001")
    assert inv.hosted_invoice_url is not None and inv.status_transitions.finalized_at is not None
    payments = client.v1.invoice_payments.list(params={"invoice": inv.id}).data
    assert len(payments) == 1 and payments[0].status == "open" and payments[0].is_default
    assert payments[0].amount_requested == 18_499 and payments[0].amount_paid is None


def test_paying_out_of_band_marks_the_invoice_paid_without_moving_money(client: stripe.StripeClient) -> None:
    inv = client.v1.invoices.finalize_invoice(_with_items(client).id)
    inv = client.v1.invoices.pay(inv.id, params={"paid_out_of_band": True})
    assert inv.status == "paid" and inv.amount_paid == 18_499 and inv.amount_remaining == 0
    assert inv.amount_paid_off_stripe == 18_499 and inv.status_transitions.paid_at is not None
    assert client.v1.charges.list().data == []
    assert client.v1.invoice_payments.list(params={"invoice": inv.id}).data[0].status == "canceled"
    types = [e.type for e in client.v1.events.list(params={"type": "invoice.*"}).data]
    assert "invoice.paid" in types and "invoice.payment_succeeded" not in types


def test_paying_with_a_card_links_invoice_payment_intent_and_charge(client: stripe.StripeClient) -> None:
    inv = client.v1.invoices.finalize_invoice(_with_items(client).id)
    inv = client.v1.invoices.pay(inv.id, params={"payment_method": "pm_card_visa"})
    assert inv.status == "paid" and inv.amount_paid == 18_499 and inv.amount_remaining == 0
    assert inv.attempted and inv.attempt_count == 1
    assert "payment_intent" not in inv and "charge" not in inv  # today's API: use InvoicePayments

    expanded = client.v1.invoices.retrieve(inv.id, params={"expand": ["payments", "customer"]})
    assert expanded.customer.email == "ap@acme.test"  # type: ignore[union-attr]
    (payment,) = expanded.payments.data  # type: ignore[union-attr]
    pi_id = payment.payment.payment_intent
    assert payment.status == "paid" and payment.amount_paid == 18_499 and payment.payment.type == "payment_intent"

    found = client.v1.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": str(pi_id)}}
    ).data
    assert [p.invoice for p in found] == [inv.id]

    pi = client.v1.payment_intents.retrieve(str(pi_id))
    assert pi.status == "succeeded" and pi.amount_received == 18_499 and pi.customer == inv.customer
    charge = client.v1.charges.retrieve(str(pi.latest_charge), params={"expand": ["balance_transaction"]})
    txn = charge.balance_transaction
    assert charge.paid and charge.status == "succeeded" and charge.amount_captured == 18_499
    assert charge.payment_method_details is not None and charge.payment_method_details.card is not None
    assert (charge.payment_method_details.card.brand, charge.payment_method_details.card.last4) == ("visa", "4242")
    assert txn.fee == 566 and txn.net == 18_499 - 566 and txn.type == "charge"  # type: ignore[union-attr]

    types = [e.type for e in reversed(client.v1.events.list(params={"limit": 100}).data)]
    paid_at = types.index("invoice.paid")
    assert types.index("charge.succeeded") < types.index("payment_intent.succeeded") < paid_at
    assert types.index("invoice_payment.paid") < paid_at < types.index("invoice.payment_succeeded")


def test_a_declined_card_leaves_the_invoice_open_and_raises_card_error(client: stripe.StripeClient) -> None:
    inv = client.v1.invoices.finalize_invoice(_with_items(client).id)
    with pytest.raises(stripe.CardError) as raised:
        client.v1.invoices.pay(inv.id, params={"payment_method": "pm_card_chargeDeclined"})
    assert raised.value.code == "card_declined" and raised.value.http_status == 402
    inv = client.v1.invoices.retrieve(inv.id)
    assert inv.status == "open" and inv.amount_paid == 0 and inv.attempt_count == 1
    assert client.v1.events.list(params={"type": "invoice.payment_failed"}).data


def test_finalized_invoices_only_accept_metadata_changes(client: stripe.StripeClient) -> None:
    inv = client.v1.invoices.finalize_invoice(_with_items(client).id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.update(inv.id, params={"description": "changed"})
    inv = client.v1.invoices.update(inv.id, params={"metadata": {"synced": "yes"}})
    assert inv.metadata is not None and inv.metadata.to_dict() == {"qb_txn_id": "1A2B", "synced": "yes"}


def test_drafts_can_be_edited_and_items_cannot_join_finalized_invoices(client: stripe.StripeClient) -> None:
    inv = _draft(client)
    inv = client.v1.invoices.update(inv.id, params={"description": "Edited", "due_date": inv.created + 86400})
    assert inv.description == "Edited" and inv.due_date == inv.created + 86400
    client.v1.invoices.finalize_invoice(inv.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.create(params={"invoice": inv.id, "amount": 100})


def test_void_and_uncollectible_transitions(client: stripe.StripeClient) -> None:
    first = client.v1.invoices.finalize_invoice(_with_items(client).id)
    first = client.v1.invoices.mark_uncollectible(first.id)
    assert first.status == "uncollectible" and first.status_transitions.marked_uncollectible_at
    first = client.v1.invoices.void_invoice(first.id)
    assert first.status == "void" and first.status_transitions.voided_at
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(first.id, params={"paid_out_of_band": True})


def test_a_zero_amount_invoice_is_paid_on_finalization(client: stripe.StripeClient) -> None:
    inv = client.v1.invoices.finalize_invoice(_draft(client).id)
    assert inv.status == "paid" and inv.amount_due == 0


def test_pending_items_are_pulled_in_only_when_asked(client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(params={"name": "Pending"})
    client.v1.invoice_items.create(params={"customer": cust.id, "amount": 700, "currency": "usd"})
    base = {"customer": cust.id, "collection_method": "send_invoice", "days_until_due": 7}
    excluded = client.v1.invoices.create(params=base)  # type: ignore[arg-type]
    included = client.v1.invoices.create(params={**base, "pending_invoice_items_behavior": "include"})  # type: ignore[arg-type]
    assert excluded.total == 0 and included.total == 700


def test_send_invoice_requires_a_due_date(client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(params={"name": "No due date"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.create(params={"customer": cust.id, "collection_method": "send_invoice"})


def test_invoices_list_filters_by_customer_and_status(client: stripe.StripeClient) -> None:
    open_one = client.v1.invoices.finalize_invoice(_with_items(client).id)
    _draft(client)
    opened = client.v1.invoices.list(params={"status": "open"}).data
    assert [i.id for i in opened] == [open_one.id]
    mine = client.v1.invoices.list(params={"customer": str(open_one.customer)}).data
    assert [i.id for i in mine] == [open_one.id]


def test_sending_emits_invoice_sent(client: stripe.StripeClient) -> None:
    inv = client.v1.invoices.send_invoice(_with_items(client).id)
    assert inv.status == "open"
    assert [e.data.object["id"] for e in client.v1.events.list(params={"type": "invoice.sent"}).data] == [inv.id]


def test_advancing_the_clock_finalizes_auto_advancing_drafts(server: FakeStripeServer,
                                                             client: stripe.StripeClient) -> None:
    inv = _draft(client, auto_advance=True)
    client.v1.invoice_items.create(params={"invoice": inv.id, "amount": 1000})
    server.fake.advance_time(3601)
    assert client.v1.invoices.retrieve(inv.id).status == "open"


def test_an_invoice_shows_ten_lines_and_pages_through_the_rest(client: stripe.StripeClient) -> None:
    inv = _draft(client)
    for n in range(12):
        client.v1.invoice_items.create(params={"invoice": inv.id, "amount": 100 + n, "description": f"line {n}"})
    inv = client.v1.invoices.retrieve(inv.id)
    assert len(inv.lines.data) == 10 and inv.lines.has_more and inv.total == sum(range(100, 112))
    all_lines = list(inv.lines.auto_paging_iter())
    assert [line.amount for line in all_lines] == list(range(100, 112))
    pages = client.v1.invoices.line_items.list(inv.id, params={"limit": 5, "starting_after": all_lines[4].id})
    assert [line.amount for line in pages.data] == list(range(105, 110)) and pages.has_more


def test_deleting_an_item_from_a_draft_updates_its_totals(client: stripe.StripeClient) -> None:
    inv = _draft(client)
    keep = client.v1.invoice_items.create(params={"invoice": inv.id, "amount": 300})
    drop = client.v1.invoice_items.create(params={"invoice": inv.id, "amount": 200})
    client.v1.invoice_items.delete(drop.id)
    client.v1.invoice_items.update(keep.id, params={"amount": 350})
    inv = client.v1.invoices.retrieve(inv.id)
    assert inv.total == 350 and [line.amount for line in inv.lines.data] == [350]


def test_an_auto_advancing_charge_automatically_invoice_charges_the_default_card(
    server: FakeStripeServer, client: stripe.StripeClient
) -> None:
    cust = client.v1.customers.create(params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    inv = client.v1.invoices.create(params={"customer": cust.id, "auto_advance": True})
    client.v1.invoice_items.create(params={"invoice": inv.id, "amount": 2_000})
    server.fake.advance_time(3601)
    assert client.v1.invoices.retrieve(inv.id).status == "open"
    server.fake.advance_time(3601)
    paid = client.v1.invoices.retrieve(inv.id)
    assert paid.status == "paid" and paid.amount_paid == 2_000 and paid.attempt_count == 1
    assert client.v1.events.list(params={"type": "invoice.payment_succeeded"}).data

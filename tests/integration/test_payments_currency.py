"""Payments in another currency: refused with a clear audit entry while QuickBooks multicurrency is off,
posted in the customer's currency at Stripe's exchange rate when it is on (issue 7, "Currency")."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import stripe

from activities.audit import POSTED
from ml_connector.simulator.company import NewInvoiceLine
from tests.payments_support import Books, World, payments_world

pytestmark = pytest.mark.slow


def _pay(world: World, customer: str, cents: int, currency: str, metadata: dict[str, str]) -> tuple[str, str]:
    """A card payment in ``currency``: (PaymentIntent id, charge id)."""
    pi = world.stripe.client.v1.payment_intents.create(
        {
            "amount": cents,
            "currency": currency,
            "customer": customer,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": metadata,
        }
    )
    assert pi.id is not None and pi.latest_charge is not None
    return pi.id, str(pi.latest_charge)


def _stripe_rate(world: World, charge_id: str) -> Decimal:
    """The exchange rate on the charge's balance transaction, as Stripe reports it."""
    charge = world.stripe.client.v1.charges.retrieve(charge_id, {"expand": ["balance_transaction"]})
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction) and txn.exchange_rate is not None
    return Decimal(str(txn.exchange_rate))


async def _audited(world: World, action: str, payment_id: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(e.stripe_object_id == payment_id for e in world.audit(action)):
        assert asyncio.get_running_loop().time() < deadline, f"no {action} for {payment_id}"
        await asyncio.sleep(0.3)


def _euro_books() -> tuple[Books, str, str]:
    """A company file with multicurrency on, a customer billed in euros and one open 150.00 EUR invoice."""
    books = Books.fresh()
    company = books.company
    with company.lock:
        company.turn_on_multicurrency("USD")
        customer = company.add_customer("Lyon Textiles SA")
        company.set_customer_currency(customer.list_id, "EUR")
        invoice = company.add_invoice(
            customer.list_id, [NewInvoiceLine(item_id=books.chart.items[0], amount=Decimal("150.00"))]
        )
    return books, customer.list_id, invoice.txn_id


async def test_a_euro_payment_is_refused_with_what_to_do_while_multicurrency_is_off(
    temporal_client, database_url
):
    async with payments_world(database_url, temporal_client) as world:
        books, stripe_side = world.books, world.stripe
        with books.company.lock:
            qb_customer = books.company.add_customer("Rotterdam Freight BV").list_id
        cus = stripe_side.customer("Rotterdam Freight BV")
        world.link(cus, qb_customer)
        invoice = books.invoice(qb_customer, Decimal("80.00"))
        pi_eur, _ = _pay(world, cus, 8000, "eur", {"qb_txn_id": invoice})
        pi_usd, _ = _pay(world, cus, 2500, "usd", {})
        await stripe_side.deliver()
        await world.settle([pi_usd])
        await _audited(world, "payment.refused", pi_eur)

        (refused,) = [e for e in world.audit("payment.refused") if e.stripe_object_id == pi_eur]
        assert (refused.outcome, refused.amount, refused.currency) == ("refused", "80.00", "eur")
        assert "EUR" in refused.error and "home currency is USD" in refused.error
        assert "MLC_MULTICURRENCY=true" in refused.error and "by hand" in refused.error
        payments = list(books.company.receive_payments.values())
        assert [p.total_amount for p in payments] == [Decimal("25.00")], "nothing in QuickBooks for the euros"
        assert books.balance(invoice) == Decimal("80.00")


async def test_with_multicurrency_on_a_euro_payment_is_posted_in_euros_at_stripes_exchange_rate(
    temporal_client, database_url
):
    books, qb_customer, invoice = _euro_books()
    async with payments_world(database_url, temporal_client, books, MLC_MULTICURRENCY="true") as world:
        stripe_side = world.stripe
        cus = stripe_side.customer("Lyon Textiles SA")
        world.link(cus, qb_customer)
        pi_settled, charge_settled = _pay(world, cus, 12000, "eur", {"qb_txn_id": invoice})
        pi_late, charge_late = _pay(world, cus, 1000, "eur", {})
        rate = _stripe_rate(world, charge_settled)
        # The second charge is not settled yet: Stripe shows no balance transaction, hence no rate.
        store = stripe_side.server.fake.store
        with store.lock:
            late = store.find(charge_late, False)
            assert late is not None
            settlement, late["balance_transaction"] = late["balance_transaction"], None
        await stripe_side.deliver()
        await world.settle([pi_settled])
        await _audited(world, "payment.awaiting_exchange_rate", pi_late)
        assert pi_late not in world.booked(), "no rate, no posting: never guessed"
        with store.lock:
            late["balance_transaction"] = settlement
        await world.settle([pi_late])

        booked = world.booked()
        payment = books.company.receive_payments[booked[pi_settled]]
        assert rate == Decimal("1.0825")
        assert payment.total_amount == Decimal("120.00"), "in euros, as Stripe charged them"
        assert payment.exchange_rate == rate, "the rate of Stripe's balance transaction"
        assert payment.home_amount == Decimal("129.90")
        assert books.balance(invoice) == Decimal("30.00")
        late_payment = books.company.receive_payments[booked[pi_late]]
        late_rate = await asyncio.to_thread(_stripe_rate, world, charge_late)
        assert (late_payment.total_amount, late_payment.exchange_rate) == (Decimal("10.00"), late_rate)
        assert len(books.company.receive_payments) == 2
        assert [e.currency for e in world.audit(POSTED)] == ["eur"]
        assert world.audit("payment.refused") == []

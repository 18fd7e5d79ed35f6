"""Charging in another currency: the fake Stripe account settles in usd at a fixed, documented rate."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import stripe

from ml_connector.fakestripe import FakeStripeServer
from ml_connector.fakestripe.money import EXCHANGE_RATES, SETTLEMENT_CURRENCY, processing_fee


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    server.fake.reset()
    return stripe.StripeClient(
        "sk_test_currencies", base_addresses={"api": server.url}, max_network_retries=0
    )


def _pay(client: stripe.StripeClient, amount: int, currency: str) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={"amount": amount, "currency": currency, "payment_method": "pm_card_visa", "confirm": True}
    )


def test_a_euro_charge_settles_in_dollars_with_the_rate_stripe_used(client: stripe.StripeClient) -> None:
    pi = _pay(client, 12_000, "eur")
    assert pi.latest_charge is not None
    charge = client.v1.charges.retrieve(str(pi.latest_charge), {"expand": ["balance_transaction"]})
    assert (charge.amount, charge.currency) == (12_000, "eur"), "the charge stays as the customer paid it"
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert SETTLEMENT_CURRENCY == "usd" and EXCHANGE_RATES["eur"] == Decimal("1.0825")
    assert txn.currency == "usd"
    assert Decimal(str(txn.exchange_rate)) == Decimal("1.0825"), (
        "usd per eur: 120.00 EUR x 1.0825 = 129.90 USD"
    )
    assert txn.amount == 12_990
    assert txn.fee == processing_fee(12_990) and txn.net == txn.amount - txn.fee


def test_a_dollar_charge_has_no_exchange_rate(client: stripe.StripeClient) -> None:
    pi = _pay(client, 5_000, "usd")
    txn = client.v1.charges.retrieve(
        str(pi.latest_charge), {"expand": ["balance_transaction"]}
    ).balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.amount, txn.currency, txn.exchange_rate) == (5_000, "usd", None)


def test_a_refund_of_a_pound_charge_is_converted_at_the_same_rate_and_rounded_half_up(
    client: stripe.StripeClient,
) -> None:
    pi = _pay(client, 1_001, "gbp")
    refund = client.v1.refunds.create({"charge": str(pi.latest_charge), "amount": 501})
    txn = client.v1.balance_transactions.retrieve(str(refund.balance_transaction))
    # 5.01 GBP x 1.2674 = 6.349674 USD → 6.35
    assert (txn.amount, txn.currency, txn.fee) == (-635, "usd", 0)
    assert Decimal(str(txn.exchange_rate)) == EXCHANGE_RATES["gbp"]


def test_a_currency_the_account_cannot_settle_is_refused_before_any_charge(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="cannot settle"):
        _pay(client, 5_000, "nzd")
    assert client.v1.charges.list().data == []

"""Moving money: test card resolution, charging a PaymentIntent, refunds, fees and balance transactions.

Nothing here knows about invoices; ``billing.py`` builds on it. Fees follow Stripe's US card pricing,
2.9% + 30 minor units per successful charge, rounded half-up; refunds return no fee. Funds become
available two days after the charge, at 00:00 UTC.

Currencies: the fake account is a US account settling in ``SETTLEMENT_CURRENCY`` (usd). A charge in another
currency is converted as Stripe converts presentment currencies: its balance transaction (and those of its
refunds and disputes) is in usd, ``amount`` = charge amount × ``exchange_rate`` rounded half-up to the cent,
and ``exchange_rate`` (usd per unit of the charge's currency, Stripe's direction: amount in A × rate =
amount in B) comes from the fixed ``EXCHANGE_RATES`` table, so tests can compute the expected numbers. The
fee is the US card fee on the converted amount (Stripe's extra conversion percentage is not modelled). A
currency outside the table cannot be charged (400, as for a currency Stripe does not support).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.cards import TEST_CARDS, CardSpec
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import StripeError, invalid, no_such
from ml_connector.fakestripe.store import Obj, Store

FEE_RATE = Decimal("0.029")
FEE_FIXED = 30
AVAILABILITY_DAYS = 2
_DAY = 86400
SETTLEMENT_CURRENCY = "usd"
# usd per one unit of the currency (all two-decimal currencies); fixed so tests know the numbers in advance.
EXCHANGE_RATES: dict[str, Decimal] = {
    "eur": Decimal("1.0825"),
    "gbp": Decimal("1.2674"),
    "cad": Decimal("0.7341"),
    "aud": Decimal("0.6587"),
    "chf": Decimal("1.1312"),
}


def settle(amount: int, currency: str) -> tuple[int, str, Decimal | None]:
    """(amount, currency, exchange rate) of a movement of ``amount`` minor units of ``currency`` in the balance.

    The settlement currency passes unchanged with no rate; another is converted at its table rate.
    """
    if currency == SETTLEMENT_CURRENCY:
        return amount, currency, None
    rate = EXCHANGE_RATES.get(currency)
    if rate is None:
        raise invalid(
            f"The fake Stripe account cannot settle {currency}: use {SETTLEMENT_CURRENCY} or one of "
            f"{', '.join(sorted(EXCHANGE_RATES))}.",
            param="currency",
        )
    settled = int((Decimal(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return settled, SETTLEMENT_CURRENCY, rate


def processing_fee(amount: int) -> int:
    return int((Decimal(amount) * FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP)) + FEE_FIXED


def available_on(created: int) -> int:
    return (created // _DAY + AVAILABILITY_DAYS) * _DAY


def resolve_payment_method(call: Call, value: str, param: str) -> Obj:
    """A ``pm_card_*`` test token becomes a new PaymentMethod; a ``pm_…`` id must exist."""
    store = call.store
    card = TEST_CARDS.get(value)
    if card is not None:
        exp_year = call.store.clock.datetime().year + 3
        pm = objects.payment_method(store.new_id("payment_method"), call.now(), call.livemode, card, exp_year)
        return store.add(pm)
    found = store.find(value, call.livemode)
    if found is None or found["object"] != "payment_method":
        raise no_such("PaymentMethod", value, param=param)
    return found


def card_spec(pm: Obj) -> CardSpec:
    """Which test card a PaymentMethod came from (brand and last4 identify it in the catalogue)."""
    for card in TEST_CARDS.values():
        if card.brand == pm["card"]["brand"] and card.last4 == pm["card"]["last4"]:
            return card
    raise invalid(f"PaymentMethod {pm['id']} is not a test card", param="payment_method")


def charge_payment_intent(call: Call, pi: Obj, pm: Obj) -> Obj:
    """Confirm ``pi`` with ``pm``: a succeeded charge, or a failed one and a 402 ``card_error``.

    On a decline the PaymentIntent returns to ``requires_payment_method`` with ``last_payment_error``,
    as Stripe does, and the raised error is marked as executed so an idempotent retry replays it.
    """
    store = call.store
    card = card_spec(pm)
    decline = card.decline
    settle(pi["amount"], pi["currency"])  # a currency the account cannot settle fails before any charge
    ch = objects.charge(
        store.new_id("charge"), call.now(), call.livemode, pi=pi, pm=pm, succeeded=decline is None,
        failure_code=decline.code if decline else None,
        failure_message=decline.message if decline else None,
        decline_code=decline.decline_code if decline else None,
    )
    store.add(ch)
    pi["latest_charge"] = ch["id"]
    if decline is None:
        txn = _balance_transaction(
            store, call, amount=ch["amount"], currency=ch["currency"],
            description=ch["description"], source=ch["id"], txn_type="charge",
        )
        ch["balance_transaction"] = txn["id"]
        pi.update(status="succeeded", amount_received=pi["amount"], payment_method=pm["id"],
                  last_payment_error=None)
        store.record_event("charge.succeeded", ch, call.info)
        store.record_event("payment_intent.succeeded", pi, call.info)
        return ch
    error = {
        "advice_code": "try_again_later",
        "charge": ch["id"],
        "code": decline.code,
        "decline_code": decline.decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
        "message": decline.message,
        "param": decline.param,
        "payment_method": store.present(pm),
        "payment_method_type": "card",
        "type": "card_error",
    }
    pi.update(status="requires_payment_method", payment_method=None, last_payment_error=error)
    store.record_event("charge.failed", ch, call.info)
    store.record_event("payment_intent.payment_failed", pi, call.info)
    raise StripeError(
        402, decline.message, error_type="card_error", code=decline.code, param=decline.param,
        extra={
            "advice_code": "try_again_later",
            "charge": ch["id"],
            "decline_code": decline.decline_code,
            "payment_intent": store.present(pi),
            "payment_method": store.present(pm),
        },
        executed=True,
    )


def refund_charge(call: Call, ch: Obj, amount: int | None, reason: str | None, metadata: dict[str, str]) -> Obj:
    store = call.store
    if ch["status"] != "succeeded":
        raise invalid(f"Charge {ch['id']} has not succeeded and cannot be refunded.", param="charge")
    remaining = ch["amount_captured"] - ch["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {ch['id']} has already been refunded.", code="charge_already_refunded",
                      param="charge")
    amount = remaining if amount is None else amount
    if amount <= 0:
        raise invalid("Refund amount must be a positive integer.", param="amount")
    if amount > remaining:
        raise invalid(
            f"Refund amount ({_money(amount, ch['currency'])}) is greater than unrefunded amount on charge "
            f"({_money(remaining, ch['currency'])})",
            param="amount", code="amount_too_large",
        )
    refund_id = store.new_id("refund")
    txn = _balance_transaction(
        store, call, amount=-amount, fee=0, currency=ch["currency"],
        description=f"REFUND FOR CHARGE ({ch['description'] or ch['id']})", source=refund_id, txn_type="refund",
    )
    refund = objects.refund(
        refund_id, call.now(), call.livemode, amount=amount, ch=ch, reason=reason, metadata=metadata,
        balance_transaction_id=txn["id"],
    )
    store.add(refund)
    previous = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
    ch["amount_refunded"] += amount
    ch["refunded"] = ch["amount_refunded"] >= ch["amount_captured"]
    store.record_event("refund.created", refund, call.info)
    store.record_event("charge.refunded", ch, call.info, previous)
    return refund


def _balance_transaction(
    store: Store, call: Call, *, amount: int, fee: int | None = None, currency: str, description: str | None,
    source: str, txn_type: str,
) -> Obj:
    """In the settlement currency; ``fee=None`` charges the card fee on the settled amount."""
    created = call.now()
    settled, settled_in, rate = settle(amount, currency)
    txn = objects.balance_transaction(
        store.new_id("balance_transaction"), created, amount=settled,
        fee=processing_fee(settled) if fee is None else fee, currency=settled_in,
        description=description, source=source, txn_type=txn_type, available_on=available_on(created),
        livemode=call.livemode, exchange_rate=rate,
    )
    return store.add(txn)


def _money(amount: int, currency: str) -> str:
    return f"{Decimal(amount) / 100:.2f} {currency}"

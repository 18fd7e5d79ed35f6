"""PaymentIntents, Charges, Refunds, BalanceTransactions and PaymentMethods endpoints.

PaymentIntents support the automatic-capture card flow only: create (optionally ``confirm=true``),
confirm, cancel, update. A PaymentIntent that pays an invoice is owned by the invoice: it can be
confirmed (the hosted invoice page does that) but not edited or canceled directly, as in Stripe.
"""

from __future__ import annotations

import re

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.billing import settle_payment_intent
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import invalid, missing_param, state_error
from ml_connector.fakestripe.invoice_payments import payment_intent_is_invoiced
from ml_connector.fakestripe.listing import page
from ml_connector.fakestripe.money import charge_payment_intent, refund_charge, resolve_payment_method
from ml_connector.fakestripe.params import (
    Params,
    boolean,
    choice,
    created_filter,
    in_bounds,
    integer,
    metadata_update,
    reject_unknown,
    string,
    string_list,
)
from ml_connector.fakestripe.payouts import balance_transactions_of_payout
from ml_connector.fakestripe.resources import (
    addressed,
    apply_metadata,
    list_matching,
    matches,
    set_strings,
    update_fields,
)
from ml_connector.fakestripe.store import Obj

_CURRENCY = re.compile(r"^[a-z]{3}$")
_MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50}
_CONFIRMABLE = {"requires_payment_method", "requires_confirmation"}
_CANCELABLE = {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture",
               "processing"}
_CREATE = {
    "amount", "automatic_payment_methods", "capture_method", "confirm", "confirmation_method", "currency",
    "customer", "description", "error_on_requires_action", "metadata", "off_session", "payment_method",
    "payment_method_types", "receipt_email", "return_url", "setup_future_usage", "statement_descriptor",
    "statement_descriptor_suffix",
}


# -- payment intents --------------------------------------------------------------------------------


def create_payment_intent(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, _CREATE)
    store = call.store
    amount = integer(params, "amount", required=True, minimum=1, maximum=99_999_999)
    assert amount is not None
    currency = _currency(params)
    minimum = _MINIMUM_CHARGE.get(currency, 1)
    if amount < minimum:
        raise invalid(f"Amount must be at least {minimum} minor units of {currency}.", param="amount",
                      code="amount_too_small")
    if choice(params, "capture_method", ("automatic", "automatic_async", "manual")) == "manual":
        raise invalid("This fake supports automatic capture only.", param="capture_method")
    customer_id = string(params, "customer")
    if customer_id is not None:
        store.get("customer", customer_id, call.livemode, param="customer")
    pi = objects.payment_intent(
        store.new_id("payment_intent"), call.now(), call.livemode, amount=amount, currency=currency,
        customer_id=customer_id, description=string(params, "description", max_length=1000),
        metadata=metadata_update(params, {}) or {},
        receipt_email=string(params, "receipt_email"),
        statement_descriptor=string(params, "statement_descriptor", max_length=22),
        payment_method_types=string_list(params, "payment_method_types") or ["card"],
    )
    pm_ref = string(params, "payment_method")
    pm = resolve_payment_method(call, pm_ref, "payment_method") if pm_ref else None
    if pm is not None:
        pi.update(payment_method=pm["id"], status="requires_confirmation")
    store.add(pi)
    store.record_event("payment_intent.created", pi, call.info)
    if boolean(params, "confirm", default=False):
        if pm is None:
            raise _missing_payment_method()
        charge_payment_intent(call, pi, pm)
    return store.present(pi)


def update_payment_intent(call: Call) -> Obj:
    params = call.params
    store = call.store
    pi = addressed(call, "payment_intent", {"amount", "currency", "customer", "description", "metadata",
                                           "payment_method", "receipt_email", "statement_descriptor"})
    if payment_intent_is_invoiced(store, pi) and set(params) - {"metadata", "expand"}:
        raise state_error("This PaymentIntent belongs to an invoice; only its metadata can be updated.")
    money_fields = {"amount", "currency", "customer", "payment_method"} & set(params)
    if money_fields and pi["status"] in {"succeeded", "canceled", "processing"}:
        raise state_error(
            f"You cannot update {sorted(money_fields)[0]} on a PaymentIntent with status {pi['status']}.",
            code="payment_intent_unexpected_state", param=sorted(money_fields)[0],
        )
    if "amount" in params:
        pi["amount"] = integer(params, "amount", required=True, minimum=1)
    if "currency" in params:
        pi["currency"] = _currency(params)
    if "customer" in params:
        customer_id = string(params, "customer", required=True)
        assert customer_id is not None
        pi["customer"] = store.get("customer", customer_id, call.livemode, param="customer")["id"]
    if "payment_method" in params:
        pm_ref = string(params, "payment_method")
        pi["payment_method"] = resolve_payment_method(call, pm_ref, "payment_method")["id"] if pm_ref else None
        pi["status"] = "requires_confirmation" if pi["payment_method"] else "requires_payment_method"
    set_strings(params, pi, ("description", "receipt_email", "statement_descriptor"))
    apply_metadata(params, pi)
    return store.present(pi)


def confirm_payment_intent(call: Call) -> Obj:
    params = call.params
    store = call.store
    pi = addressed(
        call, "payment_intent", {"error_on_requires_action", "off_session", "payment_method", "return_url"}
    )
    if pi["status"] not in _CONFIRMABLE:
        raise state_error(
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}.",
            code="payment_intent_unexpected_state",
        )
    pm_ref = string(params, "payment_method") or pi["payment_method"]
    if pm_ref is None:
        raise _missing_payment_method()
    pm = resolve_payment_method(call, pm_ref, "payment_method")
    charge_payment_intent(call, pi, pm)
    settle_payment_intent(call, pi)
    return store.present(pi)


def cancel_payment_intent(call: Call) -> Obj:
    params = call.params
    store = call.store
    pi = addressed(call, "payment_intent", {"cancellation_reason"})
    if payment_intent_is_invoiced(store, pi):
        raise state_error("This PaymentIntent belongs to an invoice; void the invoice instead.")
    if pi["status"] not in _CANCELABLE:
        raise state_error(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
            code="payment_intent_unexpected_state",
        )
    reason = choice(params, "cancellation_reason", ("abandoned", "duplicate", "fraudulent",
                                                     "requested_by_customer"))
    pi.update(status="canceled", canceled_at=call.now(), cancellation_reason=reason)
    store.record_event("payment_intent.canceled", pi, call.info)
    return store.present(pi)


def list_payment_intents(call: Call) -> Obj:
    return list_matching(call, "payment_intent", "/v1/payment_intents", equal=("customer",))


# -- charges ----------------------------------------------------------------------------------------


def update_charge(call: Call) -> Obj:
    return update_fields(call, "charge", "charge.updated", strings=("description", "receipt_email"))


def list_charges(call: Call) -> Obj:
    return list_matching(call, "charge", "/v1/charges", equal=("customer", "payment_intent"))


# -- refunds ----------------------------------------------------------------------------------------


def create_refund(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"amount", "charge", "metadata", "payment_intent", "reason"})
    store = call.store
    charge_id = string(params, "charge")
    pi_id = string(params, "payment_intent")
    if charge_id and pi_id:
        raise invalid("You may only specify one of these parameters: charge, payment_intent.")
    if pi_id:
        pi = store.get("payment_intent", pi_id, call.livemode, param="payment_intent")
        if pi["status"] != "succeeded" or pi["latest_charge"] is None:
            raise invalid(f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                          param="payment_intent")
        charge_id = pi["latest_charge"]
    if not charge_id:
        raise missing_param("charge")
    ch = store.get("charge", charge_id, call.livemode, param="charge")
    reason = choice(params, "reason", ("duplicate", "fraudulent", "requested_by_customer"))
    amount = integer(params, "amount", minimum=1)
    refund = refund_charge(call, ch, amount, reason, metadata_update(params, {}) or {})
    return store.present(refund)


def update_refund(call: Call) -> Obj:
    return update_fields(call, "refund", "refund.updated")


def list_refunds(call: Call) -> Obj:
    return list_matching(call, "refund", "/v1/refunds", equal=("charge", "payment_intent"))


# -- balance transactions and payment methods -------------------------------------------------------


def list_balance_transactions(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"created", "currency", "ending_before", "limit", "payout", "source",
                            "starting_after", "type"})
    txn_type = string(params, "type")
    source = string(params, "source")
    currency = string(params, "currency")
    created = created_filter(params)
    items = [
        txn
        for txn in call.store.all("balance_transaction", call.livemode)
        if matches(txn, type=txn_type, source=source, currency=None if currency is None else currency.lower())
        and in_bounds(txn["created"], created)
    ]
    payout_id = string(params, "payout")
    if payout_id is not None:
        items = balance_transactions_of_payout(call, payout_id, items)
    return page(call.store, items, params, "/v1/balance_transactions", "balance_transaction")


def _currency(params: Params) -> str:
    currency = string(params, "currency", required=True)
    assert currency is not None
    currency = currency.lower()
    if not _CURRENCY.match(currency):
        raise invalid(f"Invalid currency: {currency}.", param="currency")
    return currency


def _missing_payment_method() -> Exception:
    return state_error(
        "You cannot confirm this PaymentIntent because it's missing a payment method. Update the "
        "PaymentIntent with a payment method and then confirm it again.",
        code="payment_intent_unexpected_state",
    )

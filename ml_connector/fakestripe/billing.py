"""Invoices — this file owns the invoice state machine.

    draft ──finalize──▶ open ──pay──────────────▶ paid
      │                  │ ╰──mark_uncollectible──▶ uncollectible ──pay──▶ paid
      delete             ╰──void──────────────────▶ void  ◀──void── uncollectible

As in today's API the invoice carries no ``payment_intent`` or ``charge``: finalizing an invoice with
an amount due creates its PaymentIntent and a default InvoicePayment (``status=open``) linking the
two; paying by card confirms that PaymentIntent and marks the InvoicePayment ``paid``; paying out of
band, or voiding, cancels both. A zero-amount invoice is paid as soon as it is finalized. Invoice items
(the lines and their pricing) are in ``invoice_items.py``, the InvoicePayment endpoints in
``invoice_payments.py``.
"""

from __future__ import annotations

from collections.abc import Collection

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import StripeError, invalid, state_error
from ml_connector.fakestripe.invoice_items import attach, recalculate
from ml_connector.fakestripe.listing import page
from ml_connector.fakestripe.money import charge_payment_intent, resolve_payment_method
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
)
from ml_connector.fakestripe.resources import apply_metadata, matches, record_update, set_strings
from ml_connector.fakestripe.store import Obj, RequestInfo, Store, random_token

_DAY = 86400
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
AUTO_CHARGE_DELAY = 3600  # Stripe attempts payment about an hour after finalization
_DRAFT_EDITABLE = {
    "auto_advance", "collection_method", "days_until_due", "default_payment_method", "description",
    "due_date", "footer", "metadata", "statement_descriptor",
}


# -- invoices ---------------------------------------------------------------------------------------


def create_invoice(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, _DRAFT_EDITABLE | {"currency", "customer", "pending_invoice_items_behavior"})
    store = call.store
    customer_id = string(params, "customer", required=True)
    assert customer_id is not None
    cust = store.get("customer", customer_id, call.livemode, param="customer")
    collection_method = choice(params, "collection_method", COLLECTION_METHODS, default="charge_automatically")
    assert collection_method is not None
    created = call.now()
    due_date = _due_date(params, collection_method, created, required=True)
    default_pm = string(params, "default_payment_method")
    if default_pm is not None:
        default_pm = resolve_payment_method(call, default_pm, "default_payment_method")["id"]
    currency = (string(params, "currency") or cust["currency"] or "usd").lower()
    inv = objects.invoice(
        store.new_id("invoice"), created, call.livemode, cust=cust, currency=currency,
        collection_method=collection_method,
        auto_advance=bool(boolean(params, "auto_advance", default=False)),
        due_date=due_date,
        description=string(params, "description", max_length=1500),
        metadata=metadata_update(params, {}) or {},
        footer=string(params, "footer"),
        statement_descriptor=string(params, "statement_descriptor", max_length=22),
        default_payment_method=default_pm,
    )
    store.add(inv)
    behavior = choice(params, "pending_invoice_items_behavior", ("exclude", "include"), default="exclude")
    if behavior == "include":
        for item in reversed(store.all("invoiceitem", call.livemode)):
            if item["customer"] == cust["id"] and item["invoice"] is None and item["currency"] == currency:
                attach(store, inv, item)
    recalculate(inv)
    store.record_event("invoice.created", inv, call.info)
    return store.present(inv)


def update_invoice(call: Call) -> Obj:
    params = call.params
    store = call.store
    inv = _invoice(call)
    before = store.present(inv)
    if inv["status"] != "draft":
        for key in params:
            if key not in {"metadata", "expand"}:
                raise state_error(
                    f"Finalized invoices can't be updated in this way: only metadata can change once an "
                    f"invoice is {inv['status']}.",
                    code="invoice_not_editable", param=key,
                )
    reject_unknown(params, _DRAFT_EDITABLE)
    if "collection_method" in params:
        inv["collection_method"] = choice(params, "collection_method", COLLECTION_METHODS)
    if "auto_advance" in params:
        inv["auto_advance"] = bool(boolean(params, "auto_advance"))
        inv["automatically_finalizes_at"] = inv["created"] + 3600 if inv["auto_advance"] else None
    set_strings(params, inv, ("description", "footer", "statement_descriptor"))
    if "default_payment_method" in params:
        value = string(params, "default_payment_method")
        inv["default_payment_method"] = (
            resolve_payment_method(call, value, "default_payment_method")["id"] if value else None
        )
    if {"due_date", "days_until_due", "collection_method"} & set(params):
        inv["due_date"] = _due_date(
            params, inv["collection_method"], inv["created"], required=False, current=inv["due_date"]
        )
        if inv["collection_method"] == "send_invoice" and inv["due_date"] is None:
            raise invalid("Invoices with collection_method=send_invoice need days_until_due or due_date.",
                          param="days_until_due")
    apply_metadata(params, inv)
    record_update(call, inv, before, "invoice.updated")
    return store.present(inv)


def delete_invoice(call: Call) -> Obj:
    store = call.store
    inv = _invoice_in(call, {"draft"}, "You can only delete draft invoices.", code="invoice_not_editable")
    for line in inv["lines"]["data"]:
        store.mark_deleted(line["parent"]["invoice_item_details"]["invoice_item"])
    store.mark_deleted(inv["id"])
    store.record_event("invoice.deleted", inv, call.info)
    return objects.deleted("invoice", inv["id"])


def list_invoices(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"collection_method", "created", "customer", "due_date", "ending_before", "limit",
                            "starting_after", "status", "subscription"})
    customer_id = string(params, "customer")
    status = choice(params, "status", ("draft", "open", "paid", "uncollectible", "void"))
    collection_method = choice(params, "collection_method", COLLECTION_METHODS)
    created = created_filter(params)
    due = created_filter(params, "due_date")
    items = [
        inv
        for inv in call.store.all("invoice", call.livemode)
        if matches(inv, customer=customer_id, status=status, collection_method=collection_method)
        and in_bounds(inv["created"], created)
        and (not due or (inv["due_date"] is not None and in_bounds(inv["due_date"], due)))
    ]
    return page(call.store, items, params, "/v1/invoices", "invoice")


def list_lines(call: Call) -> Obj:
    reject_unknown(call.params, {"ending_before", "limit", "starting_after"})
    inv = _invoice(call)
    return page(call.store, inv["lines"]["data"], call.params, inv["lines"]["url"], "line_item",
                oldest_first=True)


def finalize(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"auto_advance"})
    inv = _invoice(call)
    if inv["status"] != "draft":
        raise state_error("This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                          code="invoice_not_editable")
    if "auto_advance" in params:
        inv["auto_advance"] = bool(boolean(params, "auto_advance"))
    finalize_invoice(call.store, inv, call.info)
    return call.store.present(inv)


def finalize_invoice(store: Store, inv: Obj, info: RequestInfo | None) -> None:
    """Draft → open (or straight to paid when nothing is due). Also used by the clock's auto-advance."""
    now = store.now()
    cust = store.get("customer", inv["customer"], inv["livemode"], param="customer")
    recalculate(inv)
    token = random_token(40)
    mode = "live" if inv["livemode"] else "test"
    inv.update(
        status="open",
        number=f"{cust['invoice_prefix']}-{cust['next_invoice_sequence']:04d}",
        automatically_finalizes_at=None,
        effective_at=now,
        ending_balance=inv["starting_balance"],
        hosted_invoice_url=f"https://invoice.stripe.com/i/acct_fakestripe/{mode}_{token}",
        invoice_pdf=f"https://pay.stripe.com/invoice/acct_fakestripe/{mode}_{token}/pdf?s=ap",
    )
    inv["status_transitions"]["finalized_at"] = now
    cust["next_invoice_sequence"] += 1
    if cust["currency"] is None:
        cust["currency"] = inv["currency"]
    if inv["collection_method"] == "charge_automatically" and inv["auto_advance"]:
        inv["next_payment_attempt"] = now + AUTO_CHARGE_DELAY
    if inv["amount_due"] > 0:
        pi = objects.payment_intent(
            store.new_id("payment_intent"), now, inv["livemode"], amount=inv["amount_due"],
            currency=inv["currency"], customer_id=inv["customer"], description="Payment for Invoice",
            metadata={}, receipt_email=None, statement_descriptor=inv["statement_descriptor"],
            payment_method_types=["card"],
        )
        store.add(pi)
        inv["confirmation_secret"] = {"client_secret": pi["client_secret"], "type": "payment_intent"}
        store.add(objects.invoice_payment(
            store.new_id("invoice_payment"), now, inv["livemode"], invoice_id=inv["id"],
            payment_intent_id=pi["id"], amount_requested=inv["amount_due"], currency=inv["currency"],
        ))
        store.record_event("payment_intent.created", pi, info)
        store.record_event("invoice.finalized", inv, info)
    else:
        store.record_event("invoice.finalized", inv, info)
        _mark_paid(store, inv, info, off_stripe=0)


def send(call: Call) -> Obj:
    reject_unknown(call.params, ())
    inv = _invoice(call)
    if inv["collection_method"] != "send_invoice":
        raise state_error("You can only manually send an invoice if its collection method is 'send_invoice'.")
    if inv["status"] == "draft":
        finalize_invoice(call.store, inv, call.info)
    if inv["status"] not in {"open", "paid"}:
        raise state_error(f"You can't send an invoice with status {inv['status']}.")
    call.store.record_event("invoice.sent", inv, call.info)
    return call.store.present(inv)


def pay(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"forgive", "mandate", "off_session", "paid_out_of_band", "payment_method", "source"})
    store = call.store
    inv = _invoice(call)
    if "source" in params:
        raise invalid("Sources are not supported by this fake; pass payment_method instead.", param="source")
    if inv["status"] == "draft":
        finalize_invoice(store, inv, call.info)
        if inv["status"] == "paid":  # nothing was due: finalizing paid it
            return store.present(inv)
    if inv["status"] == "paid":
        raise state_error("Invoice is already paid")
    if inv["status"] == "void":
        raise state_error("This invoice has been voided and can no longer be paid.")
    if boolean(params, "paid_out_of_band", default=False):
        _cancel_payment(store, inv, call.info, reason="automatic")
        _mark_paid(store, inv, call.info, off_stripe=inv["amount_remaining"])
        return store.present(inv)
    pm_ref = string(params, "payment_method") or inv["default_payment_method"]
    if pm_ref is None:
        cust = store.get("customer", inv["customer"], call.livemode, param="customer")
        pm_ref = cust["invoice_settings"]["default_payment_method"]
    if pm_ref is None:
        raise invalid(
            "This customer has no attached payment source or default payment method. Please consider adding "
            "a default payment method.",
            param="payment_method",
        )
    pm = resolve_payment_method(call, pm_ref, "payment_method")
    inv_payment = _default_payment(store, inv)
    pi = store.get("payment_intent", inv_payment["payment"]["payment_intent"], call.livemode)
    inv["attempted"] = True
    inv["attempt_count"] += 1
    try:
        charge_payment_intent(call, pi, pm)
    except StripeError:
        store.record_event("invoice.payment_failed", inv, call.info)
        raise
    settle_payment_intent(call, pi)
    return store.present(inv)


def void(call: Call) -> Obj:
    store = call.store
    inv = _invoice_in(
        call, {"open", "uncollectible"}, "You can only void open or uncollectible invoices; this one is {status}."
    )
    _cancel_payment(store, inv, call.info, reason="void_invoice")
    _move(store, inv, call.info, "void", "voided_at", "invoice.voided")
    return store.present(inv)


def mark_uncollectible(call: Call) -> Obj:
    store = call.store
    inv = _invoice_in(call, {"open"}, "You can only mark open invoices as uncollectible; this one is {status}.")
    _move(store, inv, call.info, "uncollectible", "marked_uncollectible_at", "invoice.marked_uncollectible")
    return store.present(inv)


def settle_payment_intent(call: Call, pi: Obj) -> None:
    """A PaymentIntent succeeded: if it is an invoice's, that InvoicePayment and invoice are paid."""
    store = call.store
    for inv_payment in store.all("invoice_payment", call.livemode):
        if inv_payment["payment"].get("payment_intent") != pi["id"] or inv_payment["status"] != "open":
            continue
        now = call.now()
        inv_payment.update(status="paid", amount_paid=pi["amount_received"])
        inv_payment["status_transitions"]["paid_at"] = now
        store.record_event("invoice_payment.paid", inv_payment, call.info)
        inv = store.get("invoice", inv_payment["invoice"], call.livemode)
        if inv["status"] in {"open", "uncollectible"}:
            inv["attempted"] = True
            inv["attempt_count"] = max(inv["attempt_count"], 1)
            _mark_paid(store, inv, call.info, off_stripe=0, paid_on_stripe=pi["amount_received"])
            store.record_event("invoice.payment_succeeded", inv, call.info)


def run_due_automations(store: Store) -> None:
    """What Stripe does an hour later on its own: finalize auto-advancing drafts, charge what is due."""
    with store.lock:
        now = store.now()
        for livemode in (False, True):
            for inv in reversed(store.all("invoice", livemode)):
                if (
                    inv["status"] == "draft" and inv["auto_advance"]
                    and inv["automatically_finalizes_at"] is not None and inv["automatically_finalizes_at"] <= now
                ):
                    finalize_invoice(store, inv, None)
                if (
                    inv["status"] == "open" and inv["next_payment_attempt"] is not None
                    and inv["next_payment_attempt"] <= now
                ):
                    _automatic_charge(store, inv)


def _automatic_charge(store: Store, inv: Obj) -> None:
    inv["next_payment_attempt"] = None
    cust = store.get("customer", inv["customer"], inv["livemode"], param="customer")
    pm_id = inv["default_payment_method"] or cust["invoice_settings"]["default_payment_method"]
    info = RequestInfo(api_key="", livemode=inv["livemode"], request_id=None, idempotency_key=None)
    call = Call(store=store, info=info, params={}, path={})
    inv["attempted"] = True
    inv["attempt_count"] += 1
    if pm_id is None:
        store.record_event("invoice.payment_failed", inv, None)
        return
    pi = store.get("payment_intent", _default_payment(store, inv)["payment"]["payment_intent"], inv["livemode"])
    try:
        charge_payment_intent(call, pi, store.get("payment_method", pm_id, inv["livemode"]))
    except StripeError:
        store.record_event("invoice.payment_failed", inv, None)
        return
    settle_payment_intent(call, pi)



# -- helpers ----------------------------------------------------------------------------------------


def _invoice(call: Call) -> Obj:
    return call.store.get("invoice", call.path["id"], call.livemode)


def _invoice_in(call: Call, statuses: Collection[str], refusal: str, *, code: str | None = None) -> Obj:
    """The invoice of an action that takes no parameters and is allowed only in ``statuses``; otherwise
    refused with ``refusal`` (``{status}`` in it is the invoice's)."""
    reject_unknown(call.params, ())
    inv = _invoice(call)
    if inv["status"] not in statuses:
        raise state_error(refusal.format(status=inv["status"]), code=code)
    return inv


def _due_date(
    params: Params, collection_method: str, created: int, *, required: bool, current: int | None = None
) -> int | None:
    days = integer(params, "days_until_due", minimum=0, maximum=3650)
    due = integer(params, "due_date")
    if days is not None and due is not None:
        raise invalid("You may only specify one of these parameters: days_until_due, due_date.",
                      param="due_date")
    if collection_method == "charge_automatically":
        if days is not None or due is not None:
            raise invalid(
                "Invoices with collection_method=charge_automatically cannot have days_until_due or due_date.",
                param="days_until_due" if days is not None else "due_date",
            )
        return None
    if days is not None:
        return created + days * _DAY
    if due is not None:
        return due
    if required:
        raise invalid("Invoices with collection_method=send_invoice need days_until_due or due_date.",
                      param="days_until_due")
    return current



def _default_payment(store: Store, inv: Obj) -> Obj:
    for inv_payment in store.all("invoice_payment", inv["livemode"]):
        if inv_payment["invoice"] == inv["id"] and inv_payment["is_default"]:
            return inv_payment
    raise state_error("This invoice has no payment to attempt.")


def _cancel_payment(store: Store, inv: Obj, info: RequestInfo | None, *, reason: str) -> None:
    now = store.now()
    for inv_payment in store.all("invoice_payment", inv["livemode"]):
        if inv_payment["invoice"] != inv["id"] or inv_payment["status"] != "open":
            continue
        inv_payment["status"] = "canceled"
        inv_payment["status_transitions"]["canceled_at"] = now
        pi = store.get("payment_intent", inv_payment["payment"]["payment_intent"], inv["livemode"])
        if pi["status"] not in {"succeeded", "canceled"}:
            pi.update(status="canceled", canceled_at=now, cancellation_reason=reason)
            store.record_event("payment_intent.canceled", pi, info)


def _mark_paid(store: Store, inv: Obj, info: RequestInfo | None, *, off_stripe: int,
               paid_on_stripe: int = 0) -> None:
    inv["amount_paid"] += off_stripe + paid_on_stripe
    inv["amount_paid_off_stripe"] = (inv["amount_paid_off_stripe"] or 0) + off_stripe
    inv["amount_overpaid"] = max(inv["amount_paid"] - inv["amount_due"], 0)
    inv["amount_remaining"] = max(inv["amount_due"] - inv["amount_paid"], 0)
    _move(store, inv, info, "paid", "paid_at", "invoice.paid")


def _move(store: Store, inv: Obj, info: RequestInfo | None, status: str, transition: str, event: str) -> None:
    """Open → void/uncollectible/paid: the new status, its time in ``status_transitions``, no automatic
    payment attempt left pending, and the event that says so."""
    inv["status"] = status
    inv["next_payment_attempt"] = None
    inv["status_transitions"][transition] = store.now()
    store.record_event(event, inv, info)

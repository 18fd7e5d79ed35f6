"""Invoices, invoice items and InvoicePayments — this file owns the invoice state machine.

    draft ──finalize──▶ open ──pay──────────────▶ paid
      │                  │ ╰──mark_uncollectible──▶ uncollectible ──pay──▶ paid
      delete             ╰──void──────────────────▶ void  ◀──void── uncollectible

As in today's API the invoice carries no ``payment_intent`` or ``charge``: finalizing an invoice with
an amount due creates its PaymentIntent and a default InvoicePayment (``status=open``) linking the
two; paying by card confirms that PaymentIntent and marks the InvoicePayment ``paid``; paying out of
band, or voiding, cancels both. A zero-amount invoice is paid as soon as it is finalized.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import StripeError, invalid, missing_param, no_such, state_error
from ml_connector.fakestripe.listing import list_object, page
from ml_connector.fakestripe.money import charge_payment_intent, resolve_payment_method
from ml_connector.fakestripe.params import (
    Params,
    boolean,
    choice,
    created_filter,
    decimal,
    in_bounds,
    integer,
    mapping,
    metadata_update,
    nullable_string,
    reject_unknown,
    string,
)
from ml_connector.fakestripe.store import Obj, RequestInfo, Store, previous_attributes, random_token

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
                _attach(store, inv, item)
    _recalculate(inv)
    store.record_event("invoice.created", inv, call.info)
    return store.present(inv)


def retrieve_invoice(call: Call) -> Obj:
    reject_unknown(call.params, ())
    return call.store.present(_invoice(call))


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
    for name in ("description", "footer", "statement_descriptor"):
        given, value = nullable_string(params, name)
        if given:
            inv[name] = value
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
    new_metadata = metadata_update(params, inv["metadata"])
    if new_metadata is not None:
        inv["metadata"] = new_metadata
    changed = previous_attributes(before, store.present(inv))
    if changed:
        store.record_event("invoice.updated", inv, call.info, changed)
    return store.present(inv)


def delete_invoice(call: Call) -> Obj:
    reject_unknown(call.params, ())
    store = call.store
    inv = _invoice(call)
    if inv["status"] != "draft":
        raise state_error("You can only delete draft invoices.", code="invoice_not_editable")
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
        if (customer_id is None or inv["customer"] == customer_id)
        and (status is None or inv["status"] == status)
        and (collection_method is None or inv["collection_method"] == collection_method)
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
    _recalculate(inv)
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
    reject_unknown(call.params, ())
    store = call.store
    inv = _invoice(call)
    if inv["status"] not in {"open", "uncollectible"}:
        raise state_error(f"You can only void open or uncollectible invoices; this one is {inv['status']}.")
    _cancel_payment(store, inv, call.info, reason="void_invoice")
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = call.now()
    inv["next_payment_attempt"] = None
    store.record_event("invoice.voided", inv, call.info)
    return store.present(inv)


def mark_uncollectible(call: Call) -> Obj:
    reject_unknown(call.params, ())
    store = call.store
    inv = _invoice(call)
    if inv["status"] != "open":
        raise state_error(f"You can only mark open invoices as uncollectible; this one is {inv['status']}.")
    inv["status"] = "uncollectible"
    inv["status_transitions"]["marked_uncollectible_at"] = call.now()
    inv["next_payment_attempt"] = None
    store.record_event("invoice.marked_uncollectible", inv, call.info)
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


def payment_intent_is_invoiced(store: Store, pi: Obj) -> bool:
    return any(
        inv_payment["payment"].get("payment_intent") == pi["id"]
        for inv_payment in store.all("invoice_payment", bool(pi["livemode"]))
    )


def payments_of(store: Store, inv: Obj) -> Obj:
    """The includable ``invoice.payments`` list (``expand[]=payments``)."""
    found = [ip for ip in store.all("invoice_payment", inv["livemode"]) if ip["invoice"] == inv["id"]]
    return list_object([store.present(ip) for ip in found[:10]], len(found) > 10,
                       f"/v1/invoices/{inv['id']}/payments")


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


def payments_list_of_invoice(call: Call) -> Obj:
    reject_unknown(call.params, {"ending_before", "limit", "starting_after", "status"})
    inv = _invoice(call)
    items = [ip for ip in call.store.all("invoice_payment", call.livemode) if ip["invoice"] == inv["id"]]
    return page(call.store, items, call.params, f"/v1/invoices/{inv['id']}/payments", "invoice_payment")


# -- invoice items ----------------------------------------------------------------------------------


def create_item(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {
        "amount", "currency", "customer", "description", "discountable", "invoice", "metadata", "period",
        "price_data", "pricing", "quantity", "quantity_decimal", "unit_amount_decimal",
    })
    store = call.store
    inv = None
    invoice_id = string(params, "invoice")
    if invoice_id is not None:
        inv = store.get("invoice", invoice_id, call.livemode, param="invoice")
        if inv["status"] != "draft":
            raise state_error("You can only add invoice items to draft invoices.", code="invoice_not_editable",
                              param="invoice")
    customer_id = string(params, "customer") or (inv["customer"] if inv else None)
    if customer_id is None:
        raise missing_param("customer")
    cust = store.get("customer", customer_id, call.livemode, param="customer")
    if inv is not None and inv["customer"] != cust["id"]:
        raise invalid("The invoice item's customer must be the invoice's customer.", param="customer")
    currency = (string(params, "currency") or (inv["currency"] if inv else None) or cust["currency"] or "usd")
    currency = currency.lower()
    if inv is not None and currency != inv["currency"]:
        raise invalid(f"The currency {currency} does not match the invoice's currency {inv['currency']}.",
                      param="currency")
    quantity, unit_amount, amount = _pricing(params)
    now = call.now()
    period = mapping(params, "period")
    item = objects.invoice_item(
        store.new_id("invoiceitem"), now, call.livemode, customer_id=cust["id"],
        invoice_id=inv["id"] if inv else None, currency=currency, amount=amount,
        quantity_decimal=_decimal_text(quantity), unit_amount_decimal=_decimal_text(unit_amount),
        description=string(params, "description"),
        metadata=metadata_update(params, {}) or {},
        period=_period(period, now),
        discountable=bool(boolean(params, "discountable", default=amount >= 0)),
    )
    store.add(item)
    store.record_event("invoiceitem.created", item, call.info)
    if inv is not None:
        before = store.present(inv)
        _attach(store, inv, item)
        _recalculate(inv)
        changed = _totals_changed(before, store.present(inv))
        if changed:
            store.record_event("invoice.updated", inv, call.info, changed)
    return store.present(item)


def retrieve_item(call: Call) -> Obj:
    reject_unknown(call.params, ())
    return call.store.present(call.store.get("invoiceitem", call.path["id"], call.livemode))


def update_item(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"amount", "description", "discountable", "metadata", "period", "quantity",
                            "quantity_decimal", "unit_amount_decimal"})
    store = call.store
    item = store.get("invoiceitem", call.path["id"], call.livemode)
    inv = _editable_parent(store, item)
    before = store.present(item)
    if {"amount", "quantity", "quantity_decimal", "unit_amount_decimal"} & set(params):
        current = {
            "quantity_decimal": item["quantity_decimal"],
            "unit_amount_decimal": item["pricing"]["unit_amount_decimal"],
        }
        merged = {**current, **params} if "amount" not in params else dict(params)
        if "quantity" in params:
            merged.pop("quantity_decimal", None)
        quantity, unit_amount, amount = _pricing(merged)
        item["amount"] = item["net_amount"] = amount
        item["quantity_decimal"] = _decimal_text(quantity)
        item["quantity"] = int(quantity)
        item["pricing"]["unit_amount_decimal"] = _decimal_text(unit_amount)
    given, description = nullable_string(params, "description")
    if given:
        item["description"] = description
    if "discountable" in params:
        item["discountable"] = bool(boolean(params, "discountable"))
    if "period" in params:
        item["period"] = _period(mapping(params, "period"), item["date"])
    new_metadata = metadata_update(params, item["metadata"])
    if new_metadata is not None:
        item["metadata"] = new_metadata
    changed = previous_attributes(before, store.present(item))
    if changed:
        store.record_event("invoiceitem.updated", item, call.info, changed)
    if inv is not None:
        inv_before = store.present(inv)
        for line in inv["lines"]["data"]:
            if line["parent"]["invoice_item_details"]["invoice_item"] == item["id"]:
                line.update(objects.line_item(line["id"], item, inv["id"]))
        _recalculate(inv)
        changed_inv = _totals_changed(inv_before, store.present(inv))
        if changed_inv:
            store.record_event("invoice.updated", inv, call.info, changed_inv)
    return store.present(item)


def delete_item(call: Call) -> Obj:
    reject_unknown(call.params, ())
    store = call.store
    item = store.get("invoiceitem", call.path["id"], call.livemode)
    inv = _editable_parent(store, item)
    store.mark_deleted(item["id"])
    store.record_event("invoiceitem.deleted", item, call.info)
    if inv is not None:
        before = store.present(inv)
        kept = []
        for line in inv["lines"]["data"]:
            if line["parent"]["invoice_item_details"]["invoice_item"] == item["id"]:
                store.mark_deleted(line["id"])
            else:
                kept.append(line)
        inv["lines"]["data"] = kept
        _recalculate(inv)
        changed = _totals_changed(before, store.present(inv))
        if changed:
            store.record_event("invoice.updated", inv, call.info, changed)
    return objects.deleted("invoiceitem", item["id"])


def list_items(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"created", "customer", "ending_before", "invoice", "limit", "pending",
                            "starting_after"})
    customer_id = string(params, "customer")
    invoice_id = string(params, "invoice")
    pending = boolean(params, "pending")
    created = created_filter(params)
    items = [
        item
        for item in call.store.all("invoiceitem", call.livemode)
        if (customer_id is None or item["customer"] == customer_id)
        and (invoice_id is None or item["invoice"] == invoice_id)
        and (pending is None or (item["invoice"] is None) == pending)
        and in_bounds(item["date"], created)
    ]
    return page(call.store, items, params, "/v1/invoiceitems", "invoiceitem")


# -- invoice payments -------------------------------------------------------------------------------


def retrieve_invoice_payment(call: Call) -> Obj:
    reject_unknown(call.params, ())
    return call.store.present(call.store.get("invoice_payment", call.path["id"], call.livemode))


def list_invoice_payments(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"created", "ending_before", "invoice", "limit", "payment", "starting_after", "status"})
    invoice_id = string(params, "invoice")
    status = choice(params, "status", ("canceled", "open", "paid"))
    created = created_filter(params)
    wanted = _payment_filter(mapping(params, "payment"))
    items = [
        ip
        for ip in call.store.all("invoice_payment", call.livemode)
        if (invoice_id is None or ip["invoice"] == invoice_id)
        and (status is None or ip["status"] == status)
        and in_bounds(ip["created"], created)
        and (wanted is None or ip["payment"].get(wanted[0]) == wanted[1])
    ]
    return page(call.store, items, params, "/v1/invoice_payments", "invoice_payment")


def _payment_filter(payment: Obj | None) -> tuple[str, str] | None:
    """``payment[type]=payment_intent&payment[payment_intent]=pi_…`` as (field, id)."""
    if payment is None:
        return None
    payment_type = payment.get("type")
    if payment_type is None:
        raise missing_param("payment[type]")
    if payment_type not in {"payment_intent", "payment_record"}:
        raise invalid("Invalid payment[type]: must be one of payment_intent, payment_record",
                      param="payment[type]")
    wanted = payment.get(payment_type)
    if not isinstance(wanted, str) or not wanted:
        raise missing_param(f"payment[{payment_type}]")
    return payment_type, wanted


# -- helpers ----------------------------------------------------------------------------------------


def _invoice(call: Call) -> Obj:
    return call.store.get("invoice", call.path["id"], call.livemode)


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


def _pricing(params: Params) -> tuple[Decimal, Decimal, int]:
    """(quantity, unit amount, amount) from ``amount``, or quantity × ``unit_amount_decimal``/``price_data``."""
    amount = integer(params, "amount")
    pricing = mapping(params, "pricing")
    if pricing is not None and pricing.get("price"):
        raise no_such("price", str(pricing["price"]), param="pricing[price]")
    unit = decimal(params, "unit_amount_decimal")
    price_data = mapping(params, "price_data")
    if price_data is not None:
        if unit is not None:
            raise invalid("You may only specify one of these parameters: price_data, unit_amount_decimal.")
        unit = decimal(price_data, "unit_amount_decimal")
        unit_int = integer(price_data, "unit_amount")
        if unit is None and unit_int is not None:
            unit = Decimal(unit_int)
        if unit is None:
            raise missing_param("price_data[unit_amount]")
    quantity = decimal(params, "quantity_decimal")
    if quantity is None:
        whole = integer(params, "quantity", minimum=0)
        quantity = Decimal(whole) if whole is not None else None
    if amount is not None:
        if unit is not None:
            raise invalid("You may only specify one of these parameters: amount, unit_amount_decimal.",
                          param="amount")
        if quantity is not None and quantity != 1:
            raise invalid("When passing amount, quantity must be 1 or omitted.", param="quantity")
        return Decimal(1), Decimal(amount), amount
    if unit is None:
        raise missing_param("amount")
    quantity = Decimal(1) if quantity is None else quantity
    if quantity < 0:
        raise invalid("quantity must be non-negative.", param="quantity")
    total = int((quantity * unit).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return quantity, unit, total


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _period(period: Obj | None, default: int) -> Obj:
    if period is None:
        return {"end": default, "start": default}
    start = integer(period, "start", required=True)
    end = integer(period, "end", required=True)
    assert start is not None and end is not None
    if end < start:
        raise invalid("period[end] must be greater than or equal to period[start].", param="period[end]")
    return {"end": end, "start": start}


def _attach(store: Store, inv: Obj, item: Obj) -> None:
    """The line is stored too (same dict), so it has a place in creation order for pagination cursors."""
    item["invoice"] = inv["id"]
    inv["lines"]["data"].append(store.add(objects.line_item(store.new_id("line_item"), item, inv["id"])))


def _recalculate(inv: Obj) -> None:
    subtotal = sum(line["amount"] for line in inv["lines"]["data"])
    amount_due = max(subtotal + inv["starting_balance"], 0)
    inv.update(
        subtotal=subtotal, subtotal_excluding_tax=subtotal, total=subtotal, total_excluding_tax=subtotal,
        amount_due=amount_due, amount_remaining=max(amount_due - inv["amount_paid"], 0),
    )
    if inv["lines"]["data"]:
        inv["period_start"] = min(line["period"]["start"] for line in inv["lines"]["data"])
        inv["period_end"] = max(line["period"]["end"] for line in inv["lines"]["data"])


def _totals_changed(before: Obj, after: Obj) -> Obj:
    changed = previous_attributes(before, after)
    changed.pop("lines", None)
    return changed


def _editable_parent(store: Store, item: Obj) -> Obj | None:
    if item["invoice"] is None:
        return None
    inv = store.get("invoice", item["invoice"], item["livemode"], param="invoice")
    if inv["status"] != "draft":
        raise state_error("You can only modify invoice items that are pending or on a draft invoice.",
                          code="invoice_not_editable")
    return inv


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
    inv["status"] = "paid"
    inv["next_payment_attempt"] = None
    inv["status_transitions"]["paid_at"] = store.now()
    store.record_event("invoice.paid", inv, info)

"""Invoice items: pending items on a customer, or lines of a draft invoice, and how they are priced.

An item belongs to a draft invoice or to nobody yet (pending, picked up by
``pending_invoice_items_behavior=include``); creating, changing or deleting one recalculates its invoice's
totals and reports the change as ``invoice.updated``. Once the invoice is finalized its items are frozen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import invalid, missing_param, no_such, state_error
from ml_connector.fakestripe.listing import page
from ml_connector.fakestripe.params import (
    Params,
    boolean,
    created_filter,
    decimal,
    in_bounds,
    integer,
    mapping,
    metadata_update,
    reject_unknown,
    string,
)
from ml_connector.fakestripe.resources import addressed, apply_metadata, matches, record_update, set_strings
from ml_connector.fakestripe.store import Obj, Store


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
        attach(store, inv, item)
        recalculate(inv)
        record_update(call, inv, before, "invoice.updated", ignore=("lines",))
    return store.present(item)


def update_item(call: Call) -> Obj:
    params = call.params
    store = call.store
    item = addressed(call, "invoiceitem", {"amount", "description", "discountable", "metadata", "period",
                                          "quantity", "quantity_decimal", "unit_amount_decimal"})
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
    set_strings(params, item, ("description",))
    if "discountable" in params:
        item["discountable"] = bool(boolean(params, "discountable"))
    if "period" in params:
        item["period"] = _period(mapping(params, "period"), item["date"])
    apply_metadata(params, item)
    record_update(call, item, before, "invoiceitem.updated")
    if inv is not None:
        inv_before = store.present(inv)
        for line in inv["lines"]["data"]:
            if line["parent"]["invoice_item_details"]["invoice_item"] == item["id"]:
                line.update(objects.line_item(line["id"], item, inv["id"]))
        recalculate(inv)
        record_update(call, inv, inv_before, "invoice.updated", ignore=("lines",))
    return store.present(item)


def delete_item(call: Call) -> Obj:
    store = call.store
    item = addressed(call, "invoiceitem", ())
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
        recalculate(inv)
        record_update(call, inv, before, "invoice.updated", ignore=("lines",))
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
        if matches(item, customer=customer_id, invoice=invoice_id)
        and (pending is None or (item["invoice"] is None) == pending)
        and in_bounds(item["date"], created)
    ]
    return page(call.store, items, params, "/v1/invoiceitems", "invoiceitem")


# -- invoice payments -------------------------------------------------------------------------------


# -- helpers ----------------------------------------------------------------------------------------


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


def attach(store: Store, inv: Obj, item: Obj) -> None:
    """The line is stored too (same dict), so it has a place in creation order for pagination cursors."""
    item["invoice"] = inv["id"]
    inv["lines"]["data"].append(store.add(objects.line_item(store.new_id("line_item"), item, inv["id"])))


def recalculate(inv: Obj) -> None:
    subtotal = sum(line["amount"] for line in inv["lines"]["data"])
    amount_due = max(subtotal + inv["starting_balance"], 0)
    inv.update(
        subtotal=subtotal, subtotal_excluding_tax=subtotal, total=subtotal, total_excluding_tax=subtotal,
        amount_due=amount_due, amount_remaining=max(amount_due - inv["amount_paid"], 0),
    )
    if inv["lines"]["data"]:
        inv["period_start"] = min(line["period"]["start"] for line in inv["lines"]["data"])
        inv["period_end"] = max(line["period"]["end"] for line in inv["lines"]["data"])


def _editable_parent(store: Store, item: Obj) -> Obj | None:
    if item["invoice"] is None:
        return None
    inv = store.get("invoice", item["invoice"], item["livemode"], param="invoice")
    if inv["status"] != "draft":
        raise state_error("You can only modify invoice items that are pending or on a draft invoice.",
                          code="invoice_not_editable")
    return inv


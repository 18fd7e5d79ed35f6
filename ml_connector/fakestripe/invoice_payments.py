"""InvoicePayments: the link between an invoice and the PaymentIntent that pays it.

Finalizing an invoice with an amount due creates its default InvoicePayment (``status=open``); it turns
``paid`` when that PaymentIntent succeeds and ``canceled`` when the invoice is paid out of band or voided
(both in ``billing.py``). These are the read side: the list endpoints and ``expand[]=payments``.
"""

from __future__ import annotations

from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import invalid, missing_param
from ml_connector.fakestripe.listing import list_object, page
from ml_connector.fakestripe.params import choice, created_filter, in_bounds, mapping, reject_unknown, string
from ml_connector.fakestripe.resources import addressed, matches
from ml_connector.fakestripe.store import Obj, Store


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
        if matches(ip, invoice=invoice_id, status=status)
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


# -- an invoice's payments -------------------------------------------------------------------------


def payments_list_of_invoice(call: Call) -> Obj:
    inv = addressed(call, "invoice", {"ending_before", "limit", "starting_after", "status"})
    return page(call.store, _of_invoice(call.store, inv), call.params, f"/v1/invoices/{inv['id']}/payments",
                "invoice_payment")


def payments_of(store: Store, inv: Obj) -> Obj:
    """The includable ``invoice.payments`` list (``expand[]=payments``)."""
    found = _of_invoice(store, inv)
    return list_object([store.present(ip) for ip in found[:10]], len(found) > 10,
                       f"/v1/invoices/{inv['id']}/payments")


def payment_intent_is_invoiced(store: Store, pi: Obj) -> bool:
    return any(
        inv_payment["payment"].get("payment_intent") == pi["id"]
        for inv_payment in store.all("invoice_payment", bool(pi["livemode"]))
    )


def _of_invoice(store: Store, inv: Obj) -> list[Obj]:
    return [ip for ip in store.all("invoice_payment", inv["livemode"]) if ip["invoice"] == inv["id"]]

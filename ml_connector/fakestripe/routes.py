"""The table of Stripe endpoints this fake serves, and the matcher that picks a handler for a request."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ml_connector.fakestripe import (
    billing,
    customers,
    events,
    invoice_items,
    invoice_payments,
    payments,
    payouts,
)
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.listing import Includable
from ml_connector.fakestripe.resources import retriever
from ml_connector.fakestripe.store import Obj

Handler = Callable[[Call], Obj]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template) + "$")


# Objects whose ``GET /v1/<kind>s/{id}`` is a plain `retrieve`: Stripe names the path after the object.
_RETRIEVED_AS_IS = (
    "invoice", "invoiceitem", "invoice_payment", "charge", "refund", "balance_transaction", "payment_method",
    "payout", "dispute", "event", "webhook_endpoint",
)

ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/customers", customers.create),
    Route("GET", "/v1/customers", customers.list_customers),
    Route("GET", "/v1/customers/{id}", customers.retrieve),
    Route("POST", "/v1/customers/{id}", customers.update),
    Route("DELETE", "/v1/customers/{id}", customers.delete),
    Route("POST", "/v1/invoices", billing.create_invoice),
    Route("GET", "/v1/invoices", billing.list_invoices),
    Route("POST", "/v1/invoices/{id}", billing.update_invoice),
    Route("DELETE", "/v1/invoices/{id}", billing.delete_invoice),
    Route("GET", "/v1/invoices/{id}/lines", billing.list_lines),
    Route("GET", "/v1/invoices/{id}/payments", invoice_payments.payments_list_of_invoice),
    Route("POST", "/v1/invoices/{id}/finalize", billing.finalize),
    Route("POST", "/v1/invoices/{id}/send", billing.send),
    Route("POST", "/v1/invoices/{id}/pay", billing.pay),
    Route("POST", "/v1/invoices/{id}/void", billing.void),
    Route("POST", "/v1/invoices/{id}/mark_uncollectible", billing.mark_uncollectible),
    Route("POST", "/v1/invoiceitems", invoice_items.create_item),
    Route("GET", "/v1/invoiceitems", invoice_items.list_items),
    Route("POST", "/v1/invoiceitems/{id}", invoice_items.update_item),
    Route("DELETE", "/v1/invoiceitems/{id}", invoice_items.delete_item),
    Route("GET", "/v1/invoice_payments", invoice_payments.list_invoice_payments),
    Route("POST", "/v1/payment_intents", payments.create_payment_intent),
    Route("GET", "/v1/payment_intents", payments.list_payment_intents),
    Route("GET", "/v1/payment_intents/{id}", retriever("payment_intent", allowed={"client_secret"})),
    Route("POST", "/v1/payment_intents/{id}", payments.update_payment_intent),
    Route("POST", "/v1/payment_intents/{id}/confirm", payments.confirm_payment_intent),
    Route("POST", "/v1/payment_intents/{id}/cancel", payments.cancel_payment_intent),
    Route("GET", "/v1/charges", payments.list_charges),
    Route("POST", "/v1/charges/{id}", payments.update_charge),
    Route("POST", "/v1/refunds", payments.create_refund),
    Route("GET", "/v1/refunds", payments.list_refunds),
    Route("POST", "/v1/refunds/{id}", payments.update_refund),
    Route("GET", "/v1/balance_transactions", payments.list_balance_transactions),
    Route("GET", "/v1/balance", payouts.retrieve_balance),
    Route("GET", "/v1/payouts", payouts.list_payouts),
    Route("GET", "/v1/disputes", payouts.list_disputes),
    Route("GET", "/v1/events", events.list_events),
    Route("POST", "/v1/webhook_endpoints", events.create_webhook_endpoint),
    Route("GET", "/v1/webhook_endpoints", events.list_webhook_endpoints),
    Route("POST", "/v1/webhook_endpoints/{id}", events.update_webhook_endpoint),
    Route("DELETE", "/v1/webhook_endpoints/{id}", events.delete_webhook_endpoint),
    *(Route("GET", f"/v1/{kind}s/{{id}}", retriever(kind)) for kind in _RETRIEVED_AS_IS),
)

# Fields Stripe omits unless asked for with ``expand``.
INCLUDABLES: dict[tuple[str, str], Includable] = {
    ("invoice", "payments"): invoice_payments.payments_of,
}

_COMPILED = tuple((route, route.pattern) for route in ROUTES)
_ID_SEGMENT = re.compile(r"/[a-z]+_[A-Za-z0-9_]+(?=/|$)")


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route, pattern in _COMPILED:
        if route.method != method:
            continue
        found = pattern.match(path)
        if found is not None:
            return route, found.groupdict()
    return None


def template_of(method: str, path: str) -> str:
    """``POST /v1/invoices/{id}/pay`` — the key request counts are kept under."""
    found = match(method, path)
    if found is not None:
        return f"{method} {found[0].template}"
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"

"""Which QuickBooks invoice a Stripe payment settles.

The order is the order of trust. Stripe invoice metadata ``qb_txn_id`` is written by our own invoice sync and
names the invoice exactly; the stored invoice link is the same fact kept on our side; PaymentIntent or charge
metadata (``qb_txn_id``, ``qb_invoice_ref``) is what an integrator put there by hand; the fallback — the
customer's oldest open invoice with exactly the payment's amount due — is a guess, good enough to be
configurable and never good enough to override a named invoice. A named invoice that does not exist (any
more) is not silently replaced by a guess: the payment is unmatched, and the audit says why.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ml_connector.payments.model import InvoiceSnapshot, StripePayment

TXN_ID_KEY = "qb_txn_id"
INVOICE_REF_KEY = "qb_invoice_ref"


class InvoiceSource(enum.StrEnum):
    STRIPE_INVOICE = "stripe invoice metadata qb_txn_id"
    INVOICE_LINK = "stored invoice link"
    PAYMENT_TXN_ID = "payment metadata qb_txn_id"
    PAYMENT_REF = "payment metadata qb_invoice_ref"
    FALLBACK = "oldest open invoice of the customer with that balance"
    NONE = "no invoice"


@dataclass(frozen=True)
class InvoiceHint:
    """What the Stripe side says about the invoice: a TxnID or a RefNumber, and where that came from."""

    source: InvoiceSource
    txn_id: str | None = None
    ref_number: str | None = None


@dataclass(frozen=True)
class InvoiceChoice:
    invoice: InvoiceSnapshot | None
    source: InvoiceSource
    reason: str


def _meta(values: dict[str, str], key: str) -> str | None:
    value = values.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def invoice_hint(payment: StripePayment, linked_txn_id: str | None = None) -> InvoiceHint | None:
    """The most trusted statement of which invoice the payment is for, or None when Stripe says nothing."""
    if txn := _meta(payment.invoice_metadata, TXN_ID_KEY):
        return InvoiceHint(InvoiceSource.STRIPE_INVOICE, txn_id=txn)
    if linked_txn_id:
        return InvoiceHint(InvoiceSource.INVOICE_LINK, txn_id=linked_txn_id)
    for values in (payment.metadata, payment.charge_metadata):
        if txn := _meta(values, TXN_ID_KEY):
            return InvoiceHint(InvoiceSource.PAYMENT_TXN_ID, txn_id=txn)
    for values in (payment.metadata, payment.charge_metadata):
        if ref := _meta(values, INVOICE_REF_KEY):
            return InvoiceHint(InvoiceSource.PAYMENT_REF, ref_number=ref)
    return None


def _oldest(invoices: Sequence[InvoiceSnapshot]) -> InvoiceSnapshot:
    return min(invoices, key=lambda i: (i.txn_date, i.ref_number, i.txn_id))


def choose_invoice(
    payment: StripePayment,
    hint: InvoiceHint | None,
    customer_list_id: str | None,
    invoices: Sequence[InvoiceSnapshot],
    *,
    fallback: bool,
) -> InvoiceChoice:
    """Pick the invoice among freshly read ``invoices`` (those the hint named plus the customer's open ones)."""
    if hint is not None and hint.txn_id is not None:
        for invoice in invoices:
            if invoice.txn_id == hint.txn_id:
                return InvoiceChoice(invoice, hint.source, f"{hint.source.value} {hint.txn_id}")
        return InvoiceChoice(
            None, InvoiceSource.NONE, f"{hint.source.value} names invoice {hint.txn_id}, not in QuickBooks"
        )
    if hint is not None and hint.ref_number is not None:
        wanted = hint.ref_number.casefold()
        named = [
            i
            for i in invoices
            if i.ref_number.casefold() == wanted
            and (customer_list_id is None or i.customer_list_id == customer_list_id)
        ]
        if named:
            open_ones = [i for i in named if not i.is_paid] or named
            chosen = _oldest(open_ones)
            return InvoiceChoice(chosen, hint.source, f"{hint.source.value} {hint.ref_number}")
        return InvoiceChoice(
            None,
            InvoiceSource.NONE,
            f"{hint.source.value} names invoice #{hint.ref_number}, not found for this customer",
        )
    if fallback and customer_list_id is not None:
        exact = [
            i
            for i in invoices
            if i.customer_list_id == customer_list_id and not i.is_paid and i.balance == payment.amount
        ]
        if exact:
            chosen = _oldest(exact)
            reason = f"{InvoiceSource.FALLBACK.value}: #{chosen.ref_number}"
            return InvoiceChoice(chosen, InvoiceSource.FALLBACK, reason)
        return InvoiceChoice(
            None, InvoiceSource.NONE, "no open invoice of the customer has exactly that balance"
        )
    return InvoiceChoice(None, InvoiceSource.NONE, "Stripe names no invoice and the fallback is off")


def invoice_need(
    hint: InvoiceHint | None, customer_list_id: str | None, *, fallback: bool
) -> tuple[list[str], list[str], list[str]]:
    """What to read from QuickBooks to make the choice: (TxnIDs, RefNumbers, customers' open invoices)."""
    if hint is not None and hint.txn_id is not None:
        return [hint.txn_id], [], []
    if hint is not None and hint.ref_number is not None:
        return [], [hint.ref_number], []
    if fallback and customer_list_id is not None:
        return [], [], [customer_list_id]
    return [], [], []


def still_open(choice: InvoiceChoice, customer_list_id: str | None) -> tuple[InvoiceChoice, str | None]:
    """The choice as the payment can use it, and the QuickBooks customer to book the payment to.

    An invoice paid in the meantime is no invoice to apply to: the payment becomes unmatched, and the audit
    says why. The customer is the chosen invoice's own (a payment applied to an invoice must be booked to its
    customer), else the payment's, else — for an invoice already paid — that invoice's customer.
    """
    invoice = choice.invoice
    if invoice is None:
        return choice, customer_list_id
    if invoice.balance <= 0:
        paid = InvoiceChoice(None, InvoiceSource.NONE, f"invoice #{invoice.ref_number} is already paid")
        return paid, customer_list_id or invoice.customer_list_id
    return choice, invoice.customer_list_id

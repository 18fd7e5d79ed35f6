"""A QuickBooks invoice as a Stripe invoice, and which transition keeps the two in agreement.

The Stripe invoice asks for exactly what QuickBooks says is still due: the QuickBooks lines, sales tax, and,
when part was already paid in QuickBooks (a check, an earlier payment), one negative line "Payments received
in QuickBooks". Nobody is asked to pay twice.

Transitions (QuickBooks is the master of invoices it owns):

    no link ──open in QB, customer linked───▶ CREATE   (draft, finalized or sent: MLC_INVOICE_MODE)
    linked ──paid in QB──────────▶ MARK_PAID (paid out of band; a Stripe invoice already paid stays so)
    linked ──zero in QB (voided)─▶ VOID      (a draft is deleted, an open invoice voided)
    linked ──content changed─────▶ REVISE    (a draft is replaced, an open invoice voided and re-issued,
                                              as Stripe's own "revise invoice" does; a paid one is left alone)
    linked ──deleted in QB───────▶ WITHDRAW  (a draft is deleted, an open invoice voided; the link is kept
                                              with state "deleted", so a re-run changes nothing)

QuickBooks voids an invoice by zeroing its amounts and keeping the record, so "voided" is read as "nothing is
due on lines that used to ask for money". Paid or zero invoices that were never linked are not created.
A *deleted* invoice, in contrast, vanishes from every InvoiceQuery; it is only seen in QuickBooks' list of
deletions (TxnDeletedQuery, ``decide_deleted``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ml_connector.qbxml.invoices import Invoice
from ml_connector.stripe.idempotency import params_fingerprint
from ml_connector.stripe.money import to_minor

DESCRIPTION_MAX = 500
PAID_IN_QUICKBOOKS = "Payments received in QuickBooks"
_ZERO = Decimal("0")


class InvoiceAction(StrEnum):
    CREATE = "create"
    REVISE = "revise"
    MARK_PAID = "mark_paid"
    VOID = "void"
    WITHDRAW = "withdraw"
    UNCHANGED = "unchanged"
    SKIP = "skip"


class QbInvoiceState(StrEnum):
    OPEN = "open"
    PAID = "paid"
    ZERO = "zero"


@dataclass(frozen=True)
class LineDraft:
    description: str
    amount: int  # minor units; negative for credits


@dataclass(frozen=True)
class InvoiceContent:
    """Everything a customer sees on the Stripe invoice; its fingerprint is what "edited" means."""

    stripe_customer_id: str
    currency: str
    ref_number: str | None
    due_date: date | None
    lines: tuple[LineDraft, ...]

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    def fingerprint(self) -> str:
        return params_fingerprint(
            {
                "customer": self.stripe_customer_id,
                "currency": self.currency,
                "ref": self.ref_number,
                "due": self.due_date,
                "lines": [[line.description, line.amount] for line in self.lines],
            }
        )


@dataclass(frozen=True)
class InvoiceLinkState:
    stripe_invoice_id: str
    qb_edit_sequence: str
    content_fingerprint: str
    state: str  # open | paid | voided | deleted (the QuickBooks invoice was deleted)


@dataclass(frozen=True)
class BillTo:
    """The Stripe customer who pays: the invoice's customer, or the top-level customer of a job.

    Inactive customers that were never linked have no BillTo, so their invoices are skipped too.
    """

    stripe_customer_id: str


@dataclass(frozen=True)
class InvoiceDecision:
    action: InvoiceAction
    reason: str
    content: InvoiceContent | None = None


def qb_state(invoice: Invoice) -> QbInvoiceState:
    subtotal = (
        invoice.subtotal
        if invoice.subtotal is not None
        else sum((line.amount or _ZERO for line in invoice.lines), _ZERO)
    )
    total = subtotal + (invoice.sales_tax_total or _ZERO)
    if total <= _ZERO:
        return QbInvoiceState.ZERO
    if invoice.is_paid or (invoice.balance_remaining is not None and invoice.balance_remaining <= _ZERO):
        return QbInvoiceState.PAID
    return QbInvoiceState.OPEN


def _line_text(desc: str | None, item: str | None, quantity: Decimal | None, rate: Decimal | None) -> str:
    text = (desc or item or "Item").strip() or "Item"
    if quantity is not None and rate is not None and quantity != 1:
        text = f"{text} ({quantity.normalize():f} × {rate.normalize():f})"
    return text[:DESCRIPTION_MAX]


def content_of(invoice: Invoice, bill_to: BillTo, currency: str) -> InvoiceContent:
    lines: list[LineDraft] = []
    for line in invoice.lines:
        amount = to_minor((line.amount or _ZERO).quantize(Decimal("0.01")), currency)
        if amount != 0:
            lines.append(
                LineDraft(_line_text(line.desc, line.item_full_name, line.quantity, line.rate), amount)
            )
    tax = to_minor((invoice.sales_tax_total or _ZERO).quantize(Decimal("0.01")), currency)
    if tax:
        lines.append(LineDraft("Sales tax", tax))
    applied = to_minor(abs(invoice.applied_amount or _ZERO).quantize(Decimal("0.01")), currency)
    if applied:
        lines.append(LineDraft(PAID_IN_QUICKBOOKS, -applied))
    return InvoiceContent(
        bill_to.stripe_customer_id, currency, invoice.ref_number, invoice.due_date, tuple(lines)
    )


def decide(
    invoice: Invoice, link: InvoiceLinkState | None, bill_to: BillTo | None, currency: str
) -> InvoiceDecision:
    if link is not None and link.qb_edit_sequence == invoice.edit_sequence:
        return InvoiceDecision(InvoiceAction.UNCHANGED, "EditSequence unchanged")
    state = qb_state(invoice)
    if link is None:
        if state is not QbInvoiceState.OPEN:
            return InvoiceDecision(
                InvoiceAction.SKIP, f"{state.value} in QuickBooks and never sent to Stripe"
            )
        if bill_to is None:
            return InvoiceDecision(InvoiceAction.SKIP, "its customer is not linked to Stripe")
        return InvoiceDecision(
            InvoiceAction.CREATE, "open in QuickBooks", content_of(invoice, bill_to, currency)
        )
    if state is QbInvoiceState.PAID:
        if link.state == "open":
            return InvoiceDecision(InvoiceAction.MARK_PAID, "paid in QuickBooks")
        return InvoiceDecision(InvoiceAction.UNCHANGED, f"already {link.state}")
    if state is QbInvoiceState.ZERO:
        if link.state == "open":
            return InvoiceDecision(InvoiceAction.VOID, "voided (zeroed) in QuickBooks")
        return InvoiceDecision(InvoiceAction.UNCHANGED, f"already {link.state}")
    if bill_to is None:
        return InvoiceDecision(InvoiceAction.SKIP, "its customer is no longer linked to Stripe")
    content = content_of(invoice, bill_to, currency)
    if link.state != "open":
        return InvoiceDecision(
            InvoiceAction.REVISE, f"open again in QuickBooks after being {link.state}", content
        )
    if content.fingerprint() != link.content_fingerprint:
        return InvoiceDecision(InvoiceAction.REVISE, "edited in QuickBooks", content)
    return InvoiceDecision(InvoiceAction.UNCHANGED, "content unchanged")


def decide_deleted(link: InvoiceLinkState | None) -> InvoiceDecision:
    """The QuickBooks invoice was deleted: take its Stripe invoice out of circulation, once.

    Only an ``open`` link still asks for money in Stripe. A paid one stays paid (Stripe cannot void it; the
    money is a person's decision), a voided one is already out of circulation; either way the link is only
    marked ``deleted``, which costs no Stripe request.
    """
    if link is None:
        return InvoiceDecision(InvoiceAction.SKIP, "deleted in QuickBooks and never sent to Stripe")
    if link.state == "deleted":
        return InvoiceDecision(InvoiceAction.UNCHANGED, "deletion already handled")
    if link.state == "open":
        return InvoiceDecision(InvoiceAction.WITHDRAW, "deleted in QuickBooks")
    return InvoiceDecision(InvoiceAction.UNCHANGED, f"deleted in QuickBooks, already {link.state} in Stripe")


def due_terms(due: date | None, zone: tzinfo, now: datetime) -> dict[str, int]:
    """``due_date`` at the end of the QuickBooks due day (company time), or ``days_until_due=0`` when that is
    already past: Stripe only accepts due dates in the future, and an overdue invoice is due now."""
    if due is not None:
        end_of_day = datetime.combine(due, time(23, 59, 59), tzinfo=zone)
        if end_of_day > now + timedelta(minutes=5):
            return {"due_date": int(end_of_day.timestamp())}
    return {"days_until_due": 0}


def create_params(
    content: InvoiceContent,
    invoice: Invoice,
    company_id: str,
    *,
    job_full_name: str | None,
    terms: dict[str, int],
) -> dict[str, Any]:
    metadata = {
        "qb_txn_id": invoice.txn_id,
        "qb_ref_number": invoice.ref_number or "",
        "qb_company": company_id,
        "qb_content": content.fingerprint(),
    }
    if invoice.due_date is not None:
        metadata["qb_due_date"] = invoice.due_date.isoformat()
    if job_full_name:
        metadata["qb_job"] = job_full_name[:500]
    return {
        "customer": content.stripe_customer_id,
        "currency": content.currency,
        "collection_method": "send_invoice",
        "auto_advance": False,
        "pending_invoice_items_behavior": "exclude",
        "description": f"QuickBooks invoice {invoice.ref_number}"
        if invoice.ref_number
        else "QuickBooks invoice",
        "metadata": {k: v for k, v in metadata.items() if v},
        **terms,
    }


def item_params(content: InvoiceContent, line: LineDraft, stripe_invoice_id: str) -> dict[str, Any]:
    return {
        "customer": content.stripe_customer_id,
        "invoice": stripe_invoice_id,
        "currency": content.currency,
        "amount": line.amount,
        "description": line.description,
    }

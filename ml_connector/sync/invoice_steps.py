"""What a decided invoice costs in Stripe: the create fixed once, the steps each action takes given what Stripe
reports now, who pays, and the sentence an operator reads when QuickBooks deleted an invoice.

``invoices.decide`` says which transition QuickBooks asks for; these functions say how Stripe gets there.
Stripe's own state is read first (the activity asks for the invoice's status), because a person may have
paid, voided or deleted the Stripe invoice since we last looked: a paid invoice is never voided, and an
invoice already out of circulation is not withdrawn twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

from ml_connector.qbxml.deleted import DeletedTxn
from ml_connector.qbxml.invoices import Invoice
from ml_connector.stripe.idempotency import key as idempotency_key
from ml_connector.sync.customers import top_level_name
from ml_connector.sync.invoices import BillTo, InvoiceAction, InvoiceContent, create_params, due_terms

# Stripe statuses in which an invoice still asks for money (and can be paid out of band or voided).
COLLECTIBLE = frozenset({"draft", "open", "uncollectible"})


class Withdrawal(StrEnum):
    DELETE = "delete"  # a draft: nobody ever saw it
    VOID = "void"  # finalized: voided, so it stays in the customer's history


def withdrawal(status: str) -> Withdrawal | None:
    """How an invoice with this Stripe status leaves circulation; None when it already has (or is paid)."""
    if status == "draft":
        return Withdrawal.DELETE
    if status in ("open", "uncollectible"):
        return Withdrawal.VOID
    return None


@dataclass(frozen=True)
class InvoiceSteps:
    """The Stripe requests one linked invoice's action takes, and the link state it ends in."""

    pay_out_of_band: bool = False
    withdraw: bool = False
    create: bool = False
    state: str = "open"
    paid_in_stripe_first: bool = False  # REVISE of an invoice Stripe already collected: left as it is


def steps_for(action: InvoiceAction, link_state: str, status: str) -> InvoiceSteps:
    """MARK_PAID / VOID / REVISE of a linked invoice, given its Stripe ``status`` now."""
    if action is InvoiceAction.MARK_PAID:
        return InvoiceSteps(
            pay_out_of_band=status in COLLECTIBLE, state="voided" if status == "void" else "paid"
        )
    if action is InvoiceAction.VOID:
        return InvoiceSteps(withdraw=True, state="paid" if status == "paid" else "voided")
    if action is not InvoiceAction.REVISE:
        raise ValueError(f"{action} takes no steps on a linked invoice")
    if status == "paid" and link_state == "open":
        return InvoiceSteps(state="paid", paid_in_stripe_first=True)
    withdraw = link_state == "open" and status not in ("paid", "void", "deleted")
    return InvoiceSteps(withdraw=withdraw, create=True)


def create_key(company_id: str, txn_id: str) -> str:
    """The key that names an invoice's stored create plan (``StripeWriteIntent``)."""
    return idempotency_key("invoice.create", company_id, txn_id)


def job_of(invoice: Invoice) -> str | None:
    """The job's full name when the invoice is a job's (``Customer:Job``), else None."""
    name = invoice.customer_full_name
    return name if name and ":" in name else None


def create_plan(
    invoice: Invoice,
    content: InvoiceContent,
    *,
    replaces: str | None,
    company_id: str,
    zone: tzinfo,
    now: datetime,
    mode: str,
) -> dict[str, Any]:
    """Everything a create will send, fixed once and stored (see ``StripeWriteIntent``): a retry after a crash
    sends exactly this again even if QuickBooks changed meanwhile. ``replaces``: the Stripe invoice a REVISE
    replaces (part of the create's idempotency key), None for a first create."""
    params = create_params(
        content,
        invoice,
        company_id,
        job_full_name=job_of(invoice),
        terms=due_terms(invoice.due_date, zone, now),
    )
    return {
        "params": params,
        "lines": [[line.description, line.amount] for line in content.lines],
        "fingerprint": content.fingerprint(),
        "replaces": replaces if replaces is not None else "new",
        "mode": mode,
    }


def bill_to_of(
    invoice: Invoice, by_list_id: Mapping[str, str], by_top_name: Mapping[str, str]
) -> BillTo | None:
    """Who pays: the linked Stripe customer of the invoice's customer, or of a job's top-level customer
    (``by_top_name`` is keyed by casefolded full name)."""
    if job_of(invoice):
        top = top_level_name(invoice.customer_full_name) or ""
        stripe_id = by_top_name.get(top.casefold())
    else:
        stripe_id = by_list_id.get(invoice.customer_list_id or "")
    return BillTo(stripe_id) if stripe_id else None


def top_level_names(invoices: list[Invoice]) -> set[str]:
    """The top-level customers whose links a page of job invoices needs."""
    return {name for inv in invoices if job_of(inv) and (name := top_level_name(inv.customer_full_name))}


def replayed_older_create(content_fingerprint: str | None, content: InvoiceContent | None) -> bool:
    """An earlier attempt's stored create was sent instead of this read's content: the invoice must be read
    again next poll (its EditSequence is not recorded, and the watermark holds at it)."""
    return (
        content_fingerprint is not None
        and content is not None
        and content_fingerprint != content.fingerprint()
    )


def deletion_report(gone: DeletedTxn, stripe_invoice_id: str, status: str) -> tuple[str, str]:
    """The audit outcome and the sentence an operator reads for one invoice deleted in QuickBooks."""
    what = (
        f"QuickBooks invoice {gone.ref_number} ({gone.txn_id})"
        if gone.ref_number
        else f"QuickBooks invoice {gone.txn_id}"
    )
    when = f" at {gone.time_deleted.wall_clock}" if gone.time_deleted else ""
    done = {
        "draft": f"its Stripe draft {stripe_invoice_id} was deleted",
        "open": f"Stripe invoice {stripe_invoice_id} was voided: nobody is asked to pay it",
        "uncollectible": f"Stripe invoice {stripe_invoice_id} was voided: nobody is asked to pay it",
        "void": f"Stripe invoice {stripe_invoice_id} was already void",
        "voided": f"Stripe invoice {stripe_invoice_id} was already void",
        "deleted": f"Stripe invoice {stripe_invoice_id} no longer exists",
    }
    if status in done:
        return "ok", f"{what} was deleted{when}; {done[status]}"
    return (
        "skipped",
        f"{what} was deleted{when}, but Stripe invoice {stripe_invoice_id} is {status} and was left as it is "
        "(a paid invoice cannot be voided: refund it in Stripe if the money should go back)",
    )

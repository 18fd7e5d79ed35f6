"""What a QuickBooks invoice becomes in Stripe, and which transition keeps the two in agreement."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from ml_connector.qbxml.invoices import Invoice, InvoiceLine
from ml_connector.sync.invoices import (
    PAID_IN_QUICKBOOKS,
    BillTo,
    InvoiceAction,
    InvoiceLinkState,
    LineDraft,
    content_of,
    create_params,
    decide,
    decide_deleted,
    due_terms,
)

BILL_TO = BillTo("cus_ABC123")


def invoice(**changes: object) -> Invoice:
    base = Invoice(
        txn_id="1A2-1700000000", edit_sequence="1700000000", txn_number=7, time_modified=None,
        customer_list_id="80000001-1700000000", customer_full_name="Acme Corp", txn_date=date(2026, 3, 1),
        ref_number="1042", due_date=date(2026, 3, 31), subtotal=Decimal("150.00"),
        sales_tax_total=Decimal("0.00"), applied_amount=Decimal("0.00"), balance_remaining=Decimal("150.00"),
        is_paid=False, memo=None, currency=None,
        lines=(
            InvoiceLine("L1", None, "Consulting", "Consulting", Decimal("2"), Decimal("50.00"), Decimal("100.00")),
            InvoiceLine("L2", None, "Travel", None, None, None, Decimal("50.00")),
        ),
        linked_txns=(), external_guid=None, is_pending=False,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def link(**changes: object) -> InvoiceLinkState:
    content = content_of(invoice(), BILL_TO, "usd")
    base = InvoiceLinkState("in_1", "1690000000", content.fingerprint(), "open")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_open_invoice_becomes_a_stripe_invoice_with_its_lines_in_cents():
    decision = decide(invoice(), None, BILL_TO, "usd")
    assert decision.action is InvoiceAction.CREATE
    assert decision.content is not None
    assert decision.content.lines == (LineDraft("Consulting (2 × 50)", 10000), LineDraft("Travel", 5000))
    assert decision.content.total == 15000


def test_a_partly_paid_invoice_asks_only_for_what_is_still_due():
    partly = invoice(applied_amount=Decimal("-40.00"), balance_remaining=Decimal("110.00"))
    content = content_of(partly, BILL_TO, "usd")
    assert content.lines[-1] == LineDraft(PAID_IN_QUICKBOOKS, -4000)
    assert content.total == 11000


def test_paid_or_zero_invoices_are_never_created_and_unlinked_customers_wait_for_their_link():
    paid = invoice(balance_remaining=Decimal("0.00"), is_paid=True, applied_amount=Decimal("-150.00"))
    assert decide(paid, None, BILL_TO, "usd").action is InvoiceAction.SKIP
    voided = invoice(subtotal=Decimal("0.00"), balance_remaining=Decimal("0.00"))
    assert decide(voided, None, BILL_TO, "usd").action is InvoiceAction.SKIP
    assert decide(invoice(), None, None, "usd").action is InvoiceAction.SKIP


def test_an_invoice_paid_by_check_in_quickbooks_is_marked_paid_in_stripe():
    paid = invoice(
        edit_sequence="1700000100", balance_remaining=Decimal("0.00"), is_paid=True,
        applied_amount=Decimal("-150.00"),
    )  # fmt: skip
    assert decide(paid, link(), BILL_TO, "usd").action is InvoiceAction.MARK_PAID
    assert decide(paid, link(state="paid"), BILL_TO, "usd").action is InvoiceAction.UNCHANGED


def test_an_invoice_voided_in_quickbooks_is_voided_in_stripe():
    voided = invoice(edit_sequence="1700000100", subtotal=Decimal("0.00"), balance_remaining=Decimal("0.00"))
    assert decide(voided, link(), BILL_TO, "usd").action is InvoiceAction.VOID


def test_an_edited_invoice_is_revised_and_an_untouched_one_is_left_alone():
    edited = invoice(edit_sequence="1700000100", due_date=date(2026, 4, 30))
    assert decide(edited, link(), BILL_TO, "usd").action is InvoiceAction.REVISE
    same_content = invoice(edit_sequence="1700000100", memo="internal note")
    assert decide(same_content, link(), BILL_TO, "usd").action is InvoiceAction.UNCHANGED
    assert (
        decide(invoice(edit_sequence="1690000000"), link(), BILL_TO, "usd").action is InvoiceAction.UNCHANGED
    )


def test_an_invoice_deleted_in_quickbooks_is_withdrawn_from_stripe_once():
    assert decide_deleted(link()).action is InvoiceAction.WITHDRAW, "an open Stripe invoice is voided"
    assert decide_deleted(link(state="deleted")).action is InvoiceAction.UNCHANGED, "a re-read sends nothing"
    assert decide_deleted(None).action is InvoiceAction.SKIP, "never sent to Stripe: nothing to withdraw"


def test_a_deleted_invoice_already_paid_or_voided_in_stripe_is_left_as_it_is():
    assert decide_deleted(link(state="paid")).action is InvoiceAction.UNCHANGED
    assert decide_deleted(link(state="voided")).action is InvoiceAction.UNCHANGED


def test_due_dates_are_end_of_day_in_the_company_zone_or_due_now_when_past():
    zone = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    assert due_terms(date(2026, 3, 31), zone, now) == {
        "due_date": int(datetime(2026, 3, 31, 23, 59, 59, tzinfo=zone).timestamp())
    }
    assert due_terms(date(2026, 3, 1), zone, now) == {"days_until_due": 0}


def test_stripe_invoices_carry_the_quickbooks_identity_in_metadata():
    content = content_of(invoice(), BILL_TO, "usd")
    params = create_params(content, invoice(), "acme", job_full_name="Acme Corp:Project 1", terms={})
    assert params["metadata"]["qb_txn_id"] == "1A2-1700000000"
    assert params["metadata"]["qb_ref_number"] == "1042"
    assert params["metadata"]["qb_company"] == "acme"
    assert params["metadata"]["qb_job"] == "Acme Corp:Project 1"
    assert params["collection_method"] == "send_invoice" and params["auto_advance"] is False

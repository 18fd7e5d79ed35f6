"""Which QuickBooks invoice a Stripe payment is applied to."""

from __future__ import annotations

from ml_connector.payments.matching import (
    InvoiceChoice,
    InvoiceSource,
    choose_invoice,
    invoice_hint,
    invoice_need,
    still_open,
)
from ml_connector.payments.model import InvoiceSnapshot, StripePayment


def _payment(amount: int = 5000, **kw: object) -> StripePayment:
    base: dict[str, object] = dict(
        payment_id="pi_1",
        status="succeeded",
        amount=amount,
        currency="usd",
        created=0,
        local_date="2026-03-01",
        customer_id="cus_1",
        charge_id="ch_1",
    )
    base.update(kw)
    return StripePayment(**base)  # type: ignore[arg-type]


def _invoice(
    txn: str, balance: int, *, customer: str = "C1", ref: str = "1001", day: str = "2026-01-01"
) -> InvoiceSnapshot:
    return InvoiceSnapshot(txn, customer, ref, day, balance, "1", balance <= 0)


def test_the_stripe_invoice_metadata_outranks_everything_the_payment_itself_says():
    payment = _payment(
        invoice_metadata={"qb_txn_id": "T-INV"}, metadata={"qb_txn_id": "T-PI", "qb_invoice_ref": "9"}
    )
    hint = invoice_hint(payment, linked_txn_id="T-LINK")
    assert hint is not None and hint.txn_id == "T-INV" and hint.source is InvoiceSource.STRIPE_INVOICE


def test_the_stored_invoice_link_comes_before_payment_metadata():
    hint = invoice_hint(_payment(metadata={"qb_txn_id": "T-PI"}), linked_txn_id="T-LINK")
    assert hint is not None and hint.txn_id == "T-LINK"


def test_charge_metadata_is_read_when_the_payment_intent_has_none():
    hint = invoice_hint(_payment(charge_metadata={"qb_invoice_ref": "1007"}))
    assert hint is not None and hint.ref_number == "1007" and hint.source is InvoiceSource.PAYMENT_REF


def test_a_named_invoice_is_chosen_even_when_another_has_the_exact_amount():
    named, exact = _invoice("T1", 9000), _invoice("T2", 5000)
    choice = choose_invoice(
        _payment(metadata={"qb_txn_id": "T1"}),
        invoice_hint(_payment(metadata={"qb_txn_id": "T1"})),
        "C1",
        [named, exact],
        fallback=True,
    )
    assert choice.invoice == named


def test_a_named_invoice_missing_from_quickbooks_is_unmatched_not_guessed():
    payment = _payment(metadata={"qb_txn_id": "GONE"})
    choice = choose_invoice(payment, invoice_hint(payment), "C1", [_invoice("T2", 5000)], fallback=True)
    assert choice.invoice is None and "GONE" in choice.reason


def test_the_fallback_takes_the_oldest_open_invoice_with_exactly_the_amount_due():
    older, newer, other = (
        _invoice("T1", 5000, day="2026-01-01"),
        _invoice("T2", 5000, day="2026-02-01"),
        _invoice("T3", 4999),
    )
    choice = choose_invoice(_payment(), None, "C1", [newer, other, older], fallback=True)
    assert choice.invoice == older and choice.source is InvoiceSource.FALLBACK


def test_the_fallback_ignores_other_customers_and_can_be_switched_off():
    theirs = _invoice("T1", 5000, customer="C2")
    assert choose_invoice(_payment(), None, "C1", [theirs], fallback=True).invoice is None
    assert choose_invoice(_payment(), None, "C1", [_invoice("T2", 5000)], fallback=False).invoice is None


def test_a_reference_number_matches_case_insensitively_within_the_customer():
    payment = _payment(metadata={"qb_invoice_ref": "inv-7"})
    mine, theirs = _invoice("T1", 100, ref="INV-7"), _invoice("T2", 100, ref="INV-7", customer="C2")
    choice = choose_invoice(payment, invoice_hint(payment), "C1", [theirs, mine], fallback=True)
    assert choice.invoice == mine


def test_what_is_read_from_quickbooks_follows_the_hint():
    assert invoice_need(invoice_hint(_payment(metadata={"qb_txn_id": "T"})), "C1", fallback=True) == (
        ["T"],
        [],
        [],
    )
    assert invoice_need(None, "C1", fallback=True) == ([], [], ["C1"])
    assert invoice_need(None, None, fallback=True) == ([], [], [])


def test_an_invoice_paid_in_the_meantime_is_no_invoice_and_its_customer_is_kept():
    paid = _invoice("T-1", 0, customer="C9", ref="1009")
    choice, customer = still_open(
        InvoiceChoice(paid, InvoiceSource.INVOICE_LINK, "stored invoice link T-1"), None
    )
    assert (choice.invoice, choice.source, choice.reason) == (
        None,
        InvoiceSource.NONE,
        "invoice #1009 is already paid",
    )
    assert customer == "C9"
    assert still_open(InvoiceChoice(paid, InvoiceSource.INVOICE_LINK, ""), "C1")[1] == "C1"


def test_a_payment_applied_to_an_open_invoice_is_booked_to_the_invoices_customer():
    chosen = InvoiceChoice(_invoice("T-2", 5000, customer="C7"), InvoiceSource.PAYMENT_TXN_ID, "")
    assert still_open(chosen, "C1") == (chosen, "C7")
    unmatched = InvoiceChoice(None, InvoiceSource.NONE, "no invoice")
    assert still_open(unmatched, "C1") == (unmatched, "C1")

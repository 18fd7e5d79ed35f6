"""How each kind of Stripe money is posted, refused or held back, and how a posting becomes qbXML."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ml_connector.ledger import ids
from ml_connector.ledger.model import (
    BalanceTxn,
    ChargeContext,
    LedgerPolicy,
    Payout,
    balance_txn_from_stripe,
    payout_from_stripe,
)
from ml_connector.ledger.postings import PaymentDeposit, RefundEntry, plan
from ml_connector.ledger.reconcile import QbTxn, reconcile
from ml_connector.ledger.render import to_csv, to_json, to_text
from ml_connector.ledger.requests import add_request, find_posted, lookup_request, refund_request
from ml_connector.qbxml.envelope import RequestItem, build_message_set
from ml_connector.qbxml.journal import JournalEntryAdd
from tests.qbxml_schema import assert_valid_qbxml

POLICY = LedgerPolicy(clearing_account="Stripe Clearing", bank_account="Checking", fees_account="Stripe Fees")
WHEN = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
CHARGES = {"ch_1": ChargeContext(charge_id="ch_1", customer_list_id="80000001-1700000000",
                                 invoice_txn_id="1A-1700000000", invoice_ref_number="1001")}


def txn(id_: str, category: str, amount: int, fee: int = 0, **extra: object) -> BalanceTxn:
    values: dict[str, object] = {
        "id": id_, "type": category, "reporting_category": category, "amount": amount, "fee": fee,
        "net": amount - fee, "currency": "usd", "created": WHEN, "available_on": WHEN + timedelta(days=2),
    }
    values.update(extra)
    return BalanceTxn(**values)  # type: ignore[arg-type]


def _valid(*fragments: str) -> None:
    assert_valid_qbxml(build_message_set([RequestItem(str(i), f) for i, f in enumerate(fragments)],
                                         on_error="stopOnError"))


def test_a_payment_goes_to_clearing_gross_and_its_fee_comes_out_as_an_expense() -> None:
    result = plan([txn("txn_1", "charge", 10_000, 320, source_id="ch_1", charge_id="ch_1")], POLICY, charges=CHARGES)
    payment, fee = result.postings
    assert isinstance(payment.entry, PaymentDeposit)
    assert (payment.entry.deposit_to_account_name, payment.entry.amount) == ("Stripe Clearing", Decimal("100.00"))
    assert payment.clearing_amount == Decimal("100.00")
    assert isinstance(fee.entry, JournalEntryAdd)
    assert [(line.account_name, line.amount) for line in fee.entry.debits] == [("Stripe Fees", Decimal("3.20"))]
    assert [(line.account_name, line.amount) for line in fee.entry.credits] == [("Stripe Clearing", Decimal("3.20"))]
    assert fee.clearing_amount == Decimal("-3.20")
    assert fee.entry.ref_number == ids.ref_number("fee:txn_1") and len(fee.entry.ref_number) == 11
    _valid(add_request(fee), lookup_request(fee))
    with pytest.raises(ValueError, match="payment workflow"):
        add_request(payment)


def test_a_foreign_currency_payment_is_refused_unless_multicurrency_is_on() -> None:
    eur = txn("txn_2", "charge", 10_834, 344, source_id="ch_1", charge_id="ch_1", exchange_rate=Decimal("1.0834"),
              presentment_currency="eur", presentment_amount=10_000)
    refused = plan([eur], POLICY, charges=CHARGES)
    assert refused.postings == ()
    [skip] = refused.skipped
    assert skip.reason == "refused" and "EUR" in skip.message and "multicurrency is off" in skip.message
    multi = LedgerPolicy(clearing_account="Stripe Clearing", bank_account="Checking", fees_account="Stripe Fees",
                         multicurrency=True)
    payment = plan([eur], multi, charges=CHARGES).postings[0]
    assert isinstance(payment.entry, PaymentDeposit)
    assert (payment.entry.currency, payment.entry.amount, payment.entry.exchange_rate) == (
        "eur", Decimal("100.00"), Decimal("1.0834"))
    assert payment.clearing_amount == Decimal("108.34")


def test_a_balance_in_another_currency_than_the_home_currency_is_refused() -> None:
    result = plan([txn("txn_3", "charge", 5_000, 175, currency="gbp", source_id="ch_1")], POLICY, charges=CHARGES)
    assert result.postings == () and result.skipped[0].reason == "refused"


def test_partial_refunds_of_one_charge_are_separate_credit_memos_each_refunded_from_clearing() -> None:
    refunds = [
        txn("txn_r1", "refund", -2_500, source_id="re_1", charge_id="ch_1"),
        txn("txn_r2", "refund", -1_000, source_id="re_2", charge_id="ch_1", created=WHEN + timedelta(hours=1)),
    ]
    first, second = plan(refunds, POLICY, charges=CHARGES).postings
    assert (first.key, second.key) == ("refund:re_1", "refund:re_2")
    assert isinstance(first.entry, RefundEntry)
    memo = first.entry.credit_memo
    assert (memo.customer_list_id, memo.item_name, memo.amount) == ("80000001-1700000000", "Stripe Refund",
                                                                    Decimal("25.00"))
    assert "invoice 1001" in (memo.memo or "") and "re_1" in (memo.memo or "")
    assert first.clearing_amount == Decimal("-25.00")
    refund = first.entry.refund("CM-77")
    assert refund.refund_from_account_name == "Stripe Clearing" and refund.applied[0].txn_id == "CM-77"
    _valid(add_request(first), refund_request(first, "CM-77"), lookup_request(first))


def test_a_refund_or_dispute_of_a_charge_not_yet_in_quickbooks_waits() -> None:
    result = plan([txn("txn_r", "refund", -100, source_id="re_9", charge_id="ch_unknown")], POLICY, charges=CHARGES)
    assert result.postings == () and result.skipped[0].reason == "waiting"


def test_a_dispute_reopens_the_customer_and_takes_the_fee_and_a_win_puts_the_money_back() -> None:
    withdrawn = txn("txn_d", "dispute", -10_000, 1_500, source_id="dp_1", charge_id="ch_1", type="adjustment")
    won = txn("txn_w", "dispute_reversal", 10_000, 0, source_id="dp_1", charge_id="ch_1", type="adjustment",
              created=WHEN + timedelta(days=9))
    dispute, reinstated = plan([withdrawn, won], POLICY, charges=CHARGES).postings
    assert isinstance(dispute.entry, JournalEntryAdd) and isinstance(reinstated.entry, JournalEntryAdd)
    assert {(line.account_name, line.amount, line.entity_list_id) for line in dispute.entry.debits} == {
        ("Accounts Receivable", Decimal("100.00"), "80000001-1700000000"), ("Stripe Fees", Decimal("15.00"), None)}
    assert [(line.account_name, line.amount) for line in dispute.entry.credits] == [("Stripe Clearing",
                                                                                     Decimal("115.00"))]
    assert dispute.clearing_amount == Decimal("-115.00")
    assert reinstated.clearing_amount == Decimal("100.00")
    assert reinstated.entry.credits[0].entity_list_id == "80000001-1700000000"
    _valid(add_request(dispute), add_request(reinstated))


def test_a_payout_is_posted_when_paid_and_a_failed_one_is_reversed_only_if_it_had_been_paid() -> None:
    out = txn("txn_p", "payout", -50_000, source_id="po_1", type="payout")
    back = txn("txn_f", "payout_reversal", 50_000, source_id="po_1", type="payout_failure",
               created=WHEN + timedelta(days=2))
    in_transit = plan([out], POLICY, charges={}, payouts={"po_1": Payout(
        id="po_1", amount=50_000, currency="usd", status="in_transit", arrival_date=date(2026, 3, 12))})
    assert in_transit.postings == () and in_transit.skipped[0].reason == "in_transit"
    failed_early = plan([out, back], POLICY, charges={}, payouts={"po_1": Payout(
        id="po_1", amount=50_000, currency="usd", status="failed", arrival_date=date(2026, 3, 12))})
    assert failed_early.postings == ()
    assert {s.reason for s in failed_early.skipped} == {"nets_out"}
    failed_late = plan([out, back], POLICY, charges={}, payouts={"po_1": Payout(
        id="po_1", amount=50_000, currency="usd", status="failed", arrival_date=date(2026, 3, 12), was_paid=True)})
    deposit, reversal = failed_late.postings
    assert (deposit.kind, deposit.clearing_amount) == ("payout", Decimal("-500.00"))
    assert (reversal.kind, reversal.clearing_amount) == ("payout_failed", Decimal("500.00"))
    _valid(add_request(deposit), lookup_request(deposit), add_request(reversal))


def test_other_stripe_adjustments_and_fees_are_journal_entries_against_clearing() -> None:
    result = plan([txn("txn_a", "other_adjustment", -700, type="adjustment"),
                   txn("txn_b", "fee", -1_999, type="stripe_fee", description="Billing usage fee")],
                  POLICY, charges={})
    assert [(p.kind, p.clearing_amount) for p in result.postings] == [("adjustment", Decimal("-7.00")),
                                                                       ("fee", Decimal("-19.99"))]


def test_a_posting_is_found_again_by_its_external_guid_in_quickbooks_answer() -> None:
    fee = plan([txn("txn_1", "charge", 10_000, 320, source_id="ch_1", charge_id="ch_1")], POLICY,
               charges=CHARGES).postings[1]
    rs = (
        '<JournalEntryQueryRs statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<JournalEntryRet><TxnID>OTHER</TxnID><ExternalGUID>{00000000-0000-0000-0000-000000000000}</ExternalGUID>"
        "</JournalEntryRet><JournalEntryRet><TxnID>MINE</TxnID>"
        f"<ExternalGUID>{fee.external_guid.lower()}</ExternalGUID></JournalEntryRet></JournalEntryQueryRs>"
    )
    assert find_posted(fee, rs) == "MINE"


def test_the_sdk_shape_of_a_balance_transaction_is_adapted_with_its_charge_and_payout() -> None:
    raw = {"id": "txn_9", "object": "balance_transaction", "amount": -2500, "fee": 0, "net": -2500,
           "currency": "usd", "created": 1_773_000_000, "available_on": 1_773_100_000, "type": "refund",
           "reporting_category": "refund", "exchange_rate": None,
           "source": {"id": "re_9", "object": "refund", "charge": "ch_1"}}
    adapted = balance_txn_from_stripe(raw, payout_id="po_3")
    assert (adapted.source_id, adapted.charge_id, adapted.payout_id) == ("re_9", "ch_1", "po_3")
    assert adapted.created.tzinfo is not None
    payout = payout_from_stripe({"id": "po_3", "amount": 100, "currency": "USD", "status": "paid",
                                 "arrival_date": 1_773_100_000})
    assert payout.deposit_posted and payout.currency == "usd"
    with pytest.raises(ValueError, match="net"):
        txn("txn_bad", "charge", 100, 10, net=95)


def test_the_report_renders_as_a_table_csv_and_json_with_exact_money() -> None:
    charge = txn("txn_1", "charge", 10_000, 320, source_id="ch_1", charge_id="ch_1")
    result = plan([charge], POLICY, charges=CHARGES)
    payment, fee = result.postings
    posted = {payment.key: QbTxn(payment.key, "RP-1", "ReceivePayment", Decimal("100.00")),
              fee.key: QbTxn(fee.key, "JE-1", "JournalEntry", Decimal("-3.10"))}
    report = reconcile("Test", [charge], result, posted)
    assert not report.balanced and report.difference_total == Decimal("-0.10")
    text = to_text(report)
    assert "NOT balanced" in text and "RP-1" in text and "-0.10" in text
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [(r["type"], r["stripe_amount"], r["qb_amount"], r["difference"]) for r in rows] == [
        ("charge", "100.00", "100.00", "0.00"), ("fee", "-3.20", "-3.10", "-0.10")]
    data = json.loads(to_json(report))
    assert data["totals"] == {"stripe": "96.80", "quickbooks": "96.90", "difference": "-0.10",
                              "not_posted_by_design": "0.00", "balanced": False}
    missing = reconcile("Missing", [charge], result, {})
    assert {r.status for r in missing.rows} == {"missing"}


def test_policy_refuses_account_setups_that_would_post_into_themselves() -> None:
    with pytest.raises(ValueError):
        LedgerPolicy(clearing_account="Checking", bank_account="checking", fees_account="Stripe Fees")
    with pytest.raises(ValueError):
        LedgerPolicy(clearing_account="Stripe Clearing", bank_account="Checking", fees_account="Stripe Clearing")

"""The simulated QuickBooks keeps the Stripe postings: journal entries, payout deposits, transfers,
credit memos and card refunds, with account balances that follow Stripe's money to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ml_connector.ledger.model import BalanceTxn, ChargeContext, LedgerPolicy, Payout
from ml_connector.ledger.postings import PaymentDeposit, Posting, RefundEntry, plan
from ml_connector.ledger.requests import add_request, find_posted, lookup_request, refund_request
from ml_connector.qbxml.envelope import RequestItem, build_message_set, parse_response
from ml_connector.qbxml.journal import JournalEntryAdd, JournalLine, journal_entry_add
from ml_connector.qbxml.payments import AppliedTo, ReceivePaymentAdd, receive_payment_add
from ml_connector.qbxml.transfers import TransferAdd, transfer_add, transfer_query
from ml_connector.simulator.company import CompanyFile, NewInvoiceLine
from ml_connector.simulator.ledger import CompanyLedger, install
from ml_connector.simulator.processor import QuickBooksProcessor
from tests.qbxml_schema import assert_valid_qbxml

POLICY = LedgerPolicy(clearing_account="Stripe Clearing", bank_account="Checking", fees_account="Stripe Fees")
WHEN = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


class Books:
    def __init__(self) -> None:
        self.company = CompanyFile("Ledger Co", clock=lambda: WHEN)
        c = self.company
        c.add_account("Accounts Receivable", "AccountsReceivable")
        c.add_account("Undeposited Funds", "OtherCurrentAsset", special_account_type="UndepositedFunds")
        for name, kind in (("Stripe Clearing", "Bank"), ("Checking", "Bank"), ("Stripe Fees", "Expense"),
                           ("Sales", "Income"), ("Bad Debt", "Expense")):
            c.add_account(name, kind)
        sales = c.find_account(full_name="Sales")
        assert sales is not None
        c.add_item("ItemService", "Consulting", account_id=sales.list_id)
        c.add_item("ItemService", "Stripe Refund", account_id=sales.list_id)
        c.add_payment_method("Stripe", "OtherCreditCard")
        self.processor = QuickBooksProcessor(c)
        self.ledger: CompanyLedger = install(self.processor, c)

    def run(self, fragment: str) -> str:
        doc = build_message_set([RequestItem("1", fragment)], on_error="stopOnError")
        answer = self.processor.process(doc)
        assert_valid_qbxml(answer)
        [item] = parse_response(answer).items
        assert item.status_code in (0, 1), item.status_message
        return item.xml

    def invoice_and_payment(self, amount: Decimal) -> ChargeContext:
        c = self.company
        customer = c.add_customer(f"Customer {len(c.customers) + 1}")
        item = c.find_item(full_name="Consulting")
        assert item is not None
        invoice = c.add_invoice(customer.list_id, [NewInvoiceLine(item_id=item.list_id, amount=amount)])
        self.run(receive_payment_add(ReceivePaymentAdd(
            customer_list_id=customer.list_id, total_amount=amount, deposit_to_account_name="Stripe Clearing",
            payment_method_name="Stripe", applied=(AppliedTo(invoice.txn_id, amount),))))
        return ChargeContext(charge_id=f"ch_{len(c.customers)}", customer_list_id=customer.list_id,
                             invoice_txn_id=invoice.txn_id, invoice_ref_number=invoice.ref_number)

    def post(self, posting: Posting) -> str:
        """Exactly once: look it up first, as the workflow will."""
        found = find_posted(posting, self.run(lookup_request(posting)))
        if found is not None:
            return found
        txn_id = find_posted(posting, self.run(add_request(posting)))
        assert txn_id is not None
        if isinstance(posting.entry, RefundEntry):
            self.run(refund_request(posting, txn_id))
        return txn_id

    def balance(self, name: str) -> Decimal:
        return self.ledger.account_balance(name)


def _txn(id_: str, category: str, amount: int, fee: int = 0, *, hours: int = 0, **extra: object) -> BalanceTxn:
    created = WHEN + timedelta(hours=hours)
    values: dict[str, object] = {"id": id_, "type": category, "reporting_category": category, "amount": amount,
                                 "fee": fee, "net": amount - fee, "currency": "usd", "created": created,
                                 "available_on": created}
    values.update(extra)
    return BalanceTxn(**values)  # type: ignore[arg-type]


def test_a_month_in_miniature_leaves_clearing_at_stripes_balance_and_the_bank_at_the_payout() -> None:
    books = Books()
    first = books.invoice_and_payment(Decimal("100.00"))
    second = books.invoice_and_payment(Decimal("60.00"))
    txns = [
        _txn("txn_1", "charge", 10_000, 320, source_id=first.charge_id, charge_id=first.charge_id, payout_id="po_1"),
        _txn("txn_2", "charge", 6_000, 204, source_id=second.charge_id, charge_id=second.charge_id,
             payout_id="po_1"),
        _txn("txn_3", "refund", -2_500, hours=1, source_id="re_1", charge_id=first.charge_id, payout_id="po_1"),
        _txn("txn_4", "refund", -1_000, hours=2, source_id="re_2", charge_id=first.charge_id, payout_id="po_1"),
        _txn("txn_5", "dispute", -6_000, 1_500, hours=3, source_id="du_1", charge_id=second.charge_id,
             type="adjustment", payout_id="po_1"),
    ]
    payout_amount = sum(t.net for t in txns)
    txns.append(_txn("txn_6", "payout", -payout_amount, hours=4, source_id="po_1", payout_id="po_1"))
    payouts = {"po_1": Payout(id="po_1", amount=payout_amount, currency="usd", status="paid",
                              arrival_date=(WHEN + timedelta(days=2)).date())}
    charges = {first.charge_id: first, second.charge_id: second}
    ledger_plan = plan(txns, POLICY, charges=charges, payouts=payouts)
    for posting in ledger_plan.postings:
        if not isinstance(posting.entry, PaymentDeposit):
            books.post(posting)
    assert books.balance("Stripe Clearing") == Decimal("0.00")  # everything Stripe held was paid out
    assert books.balance("Checking") == Decimal(payout_amount) / 100
    assert books.balance("Stripe Fees") == Decimal("20.24")  # 3.20 + 2.04 + 15.00 dispute fee
    # Refunds reduce income through the refund item (the company simulator derives no invoice income, so
    # the income account shows just the refunds' debits).
    assert books.balance("Sales") == Decimal("-35.00")
    # The disputed customer owes the money again; the refunded customer owes nothing.
    assert books.ledger.customer_balance_change(second.customer_list_id) == Decimal("60.00")
    assert books.ledger.customer_balance_change(first.customer_list_id) == Decimal("0.00")
    # A second run finds every posting and adds nothing.
    before = len(books.ledger.txns)
    for posting in ledger_plan.postings:
        if not isinstance(posting.entry, PaymentDeposit):
            books.post(posting)
    assert len(books.ledger.txns) == before


def test_a_refund_cannot_pay_out_more_than_the_credit_memo_holds() -> None:
    books = Books()
    context = books.invoice_and_payment(Decimal("50.00"))
    refund = plan([_txn("txn_r", "refund", -2_000, source_id="re_9", charge_id=context.charge_id)], POLICY,
                  charges={context.charge_id: context}).postings[0]
    memo_id = find_posted(refund, books.run(add_request(refund)))
    assert memo_id is not None
    books.run(refund_request(refund, memo_id))
    doc = build_message_set([RequestItem("1", refund_request(refund, memo_id))], on_error="stopOnError")
    [item] = parse_response(books.processor.process(doc)).items
    assert item.status_code == 3210


@pytest.mark.parametrize("account", ["Nonexistent", "Accounts Receivable"])
def test_journal_entries_refuse_unknown_accounts_and_receivable_lines_without_a_customer(account: str) -> None:
    books = Books()
    entry = JournalEntryAdd(debits=(JournalLine(account_name=account, amount=Decimal("1.00")),),
                            credits=(JournalLine(account_name="Stripe Clearing", amount=Decimal("1.00")),))
    doc = build_message_set([RequestItem("1", journal_entry_add(entry))], on_error="stopOnError")
    [item] = parse_response(books.processor.process(doc)).items
    assert item.status_code == 3140
    assert books.ledger.txns == {}


def test_a_transfer_moves_money_between_bank_accounts_and_is_queried_back() -> None:
    books = Books()
    books.invoice_and_payment(Decimal("80.00"))
    books.run(transfer_add(TransferAdd(from_account_name="Stripe Clearing", to_account_name="Checking",
                                       amount=Decimal("30.00"), memo="po_2")))
    assert (books.balance("Stripe Clearing"), books.balance("Checking")) == (Decimal("50.00"), Decimal("30.00"))
    rs = books.run(transfer_query(from_txn_date=WHEN.date(), to_txn_date=WHEN.date()))
    assert "po_2" in rs and "<Amount>30.00</Amount>" in rs

"""A month of Stripe money through the clearing account: 300 payments, 20 refunds (5 partial, one charge
refunded twice), 3 disputes (won, lost, pending) and 6 payouts. The books are kept by applying each
posting's own QuickBooks entry (not the planner's arithmetic), and must agree with Stripe to the cent."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from ml_connector.ledger.model import LedgerPolicy
from ml_connector.ledger.postings import LedgerPlan, PaymentDeposit, Posting, RefundEntry, plan
from ml_connector.ledger.reconcile import QbTxn, for_dates, for_payout, reconcile
from ml_connector.ledger.requests import qb_txn_type
from ml_connector.qbxml.deposits import DepositAdd
from ml_connector.qbxml.journal import JournalEntryAdd
from tests.unit.test_ledger_month_data import START, build_month

POLICY = LedgerPolicy(clearing_account="Stripe Clearing", bank_account="Checking", fees_account="Stripe Fees")
CENT = Decimal("0.01")


class Books:
    """Account balances (debit-positive) built only from the QuickBooks entries themselves."""

    def __init__(self) -> None:
        self.balances: Counter[str] = Counter()
        self.posted: dict[str, QbTxn] = {}

    def post(self, posting: Posting) -> None:
        before = Decimal(self.balances[POLICY.clearing_account])
        entry = posting.entry
        if isinstance(entry, JournalEntryAdd):
            for line in entry.debits:
                self.balances[line.account_name] += line.amount  # type: ignore[assignment]
            for line in entry.credits:
                self.balances[line.account_name] -= line.amount  # type: ignore[assignment]
        elif isinstance(entry, DepositAdd):
            self.balances[entry.deposit_to_account_name] += entry.total  # type: ignore[assignment]
            for dline in entry.lines:
                self.balances[dline.account_name] -= dline.amount  # type: ignore[assignment]
        elif isinstance(entry, RefundEntry):
            self.balances[POLICY.refund_item] += entry.credit_memo.amount  # type: ignore[assignment]
            self.balances[entry.refund_from_account_name] -= entry.refund("CM-1").total  # type: ignore[assignment]
        elif isinstance(entry, PaymentDeposit):
            home = (entry.amount * (entry.exchange_rate or 1)).quantize(CENT)
            self.balances[entry.deposit_to_account_name] += home  # type: ignore[assignment]
            self.balances["Accounts Receivable"] -= home  # type: ignore[assignment]
        after = Decimal(self.balances[POLICY.clearing_account])
        self.posted[posting.key] = QbTxn(posting.key, f"TX-{len(self.posted) + 1}", qb_txn_type(posting),
                                         after - before)

    def balance(self, account: str) -> Decimal:
        return Decimal(self.balances[account]).quantize(CENT)


def _post_all(ledger_plan: LedgerPlan) -> Books:
    books = Books()
    for posting in ledger_plan.postings:
        books.post(posting)
    return books


@pytest.fixture(scope="module")
def month_plan() -> tuple[object, LedgerPlan, Books]:
    month = build_month()
    ledger_plan = plan(month.txns, POLICY, charges=month.charges, payouts=month.payouts, disputes=month.disputes)
    return month, ledger_plan, _post_all(ledger_plan)


def test_the_month_has_the_activity_the_scenario_describes(month_plan: tuple) -> None:
    month, ledger_plan, _ = month_plan
    kinds = Counter(p.kind for p in ledger_plan.postings)
    assert kinds == {"payment": 300, "fee": 300, "refund": 20, "dispute": 3, "dispute_won": 1, "payout": 6}
    refunds = [t for t in month.txns if t.reporting_category == "refund"]
    partial = [t for t in refunds if -t.amount < month.charge_amounts[t.charge_id]]
    assert (len(refunds), len(partial)) == (20, 5)
    assert max(Counter(t.charge_id for t in refunds).values()) == 2
    assert ledger_plan.skipped == ()


def test_the_clearing_account_ends_at_stripes_pending_balance(month_plan: tuple) -> None:
    month, _, books = month_plan
    available, pending = month.balance(month.now)
    assert available == 0  # every available cent was paid out by the last automatic payout
    assert books.balance("Stripe Clearing") == Decimal(pending) / 100


def test_each_payout_is_one_bank_deposit_of_exactly_the_payout_amount(month_plan: tuple) -> None:
    month, ledger_plan, books = month_plan
    deposits = {p.source_id: p.entry for p in ledger_plan.postings if p.kind == "payout"}
    assert set(deposits) == set(month.payouts)
    for payout_id, payout in month.payouts.items():
        deposit = deposits[payout_id]
        assert isinstance(deposit, DepositAdd)
        assert deposit.deposit_to_account_name == "Checking"
        assert deposit.total == Decimal(payout.amount) / 100
        assert deposit.txn_date == payout.arrival_date
    assert books.balance("Checking") == sum((Decimal(p.amount) / 100 for p in month.payouts.values()), Decimal(0))


def test_fees_and_dispute_fees_land_in_the_fees_account_to_the_cent(month_plan: tuple) -> None:
    month, _, books = month_plan
    assert books.balance("Stripe Fees") == Decimal(sum(t.fee for t in month.txns)) / 100


def test_lost_and_pending_disputes_leave_the_customers_owing_and_the_won_one_is_settled(month_plan: tuple) -> None:
    month, _, books = month_plan
    lost_and_pending = sum(d.amount for d in month.disputes if d.status != "won")
    payments = sum(month.charge_amounts.values())
    # A/R: payments credited it, the open disputes debited it again (reopen policy).
    assert books.balance("Accounts Receivable") == Decimal(lost_and_pending - payments) / 100


def test_every_payout_reconciles_with_zero_differences(month_plan: tuple) -> None:
    month, ledger_plan, books = month_plan
    for payout_id, payout in month.payouts.items():
        report = reconcile(f"Payout {payout_id}", for_payout(payout_id, month.txns), ledger_plan, books.posted)
        assert report.balanced, [r for r in report.rows if r.difference]
        assert report.difference_total == Decimal("0.00")
        assert report.stripe_total == report.qb_total == Decimal("0.00")  # a payout empties what it swept
        payout_row = next(r for r in report.rows if r.stripe_type == "payout")
        assert payout_row.qb_amount == -Decimal(payout.amount) / 100


def test_the_whole_month_reconciles_and_totals_match_the_clearing_balance(month_plan: tuple) -> None:
    month, ledger_plan, books = month_plan
    report = reconcile("March 2026", for_dates(START.date(), month.now.date(), month.txns), ledger_plan,
                       books.posted)
    assert report.balanced
    assert len(report.rows) == 300 + 300 + 20 + 4 + 6
    assert report.qb_total == books.balance("Stripe Clearing")
    assert all(r.status == "matched" for r in report.rows)


def test_planning_again_gives_the_same_postings_so_a_rerun_posts_nothing_new(month_plan: tuple) -> None:
    month, ledger_plan, books = month_plan
    again = plan(list(reversed(month.txns)) + month.txns[:50], POLICY, charges=month.charges,
                 payouts=month.payouts, disputes=month.disputes)
    assert again == ledger_plan
    assert [p for p in again.postings if p.key not in books.posted] == []
    assert len({p.external_guid for p in again.postings}) == len(again.postings)
    assert len({p.ref_number for p in again.postings}) == len(again.postings)


def test_fees_per_payout_post_one_entry_per_payout_with_the_same_end_balances(month_plan: tuple) -> None:
    month, _, per_charge_books = month_plan
    policy = LedgerPolicy(clearing_account="Stripe Clearing", bank_account="Checking", fees_account="Stripe Fees",
                          fee_mode="per_payout")
    ledger_plan = plan(month.txns, policy, charges=month.charges, payouts=month.payouts, disputes=month.disputes)
    books = _post_all(ledger_plan)
    fee_entries = [p for p in ledger_plan.postings if p.kind == "payout_fees"]
    assert len(fee_entries) == 6
    waiting = [s for s in ledger_plan.skipped if s.reason == "waiting"]
    swept_fees = sum(p.clearing_amount for p in fee_entries)
    # Fees of charges not yet in a payout wait: clearing is higher by exactly those fees.
    unswept = sum(t.fee for t in month.txns if t.reporting_category == "charge" and t.payout_id is None)
    assert len(waiting) == sum(1 for t in month.txns if t.reporting_category == "charge" and t.payout_id is None)
    assert books.balance("Stripe Clearing") == per_charge_books.balance("Stripe Clearing") + Decimal(unswept) / 100
    assert -swept_fees == Decimal(sum(t.fee for t in month.txns if t.reporting_category == "charge"
                                      and t.payout_id is not None)) / 100
    for payout_id in month.payouts:
        report = reconcile(payout_id, for_payout(payout_id, month.txns), ledger_plan, books.posted)
        assert report.balanced


def test_a_lost_dispute_written_off_moves_the_open_amount_from_receivables_to_bad_debt(month_plan: tuple) -> None:
    month, _, _ = month_plan
    policy = LedgerPolicy(clearing_account="Stripe Clearing", bank_account="Checking", fees_account="Stripe Fees",
                          lost_dispute="write_off")
    ledger_plan = plan(month.txns, policy, charges=month.charges, payouts=month.payouts, disputes=month.disputes)
    books = _post_all(ledger_plan)
    [write_off] = [p for p in ledger_plan.postings if p.kind == "dispute_lost"]
    lost = next(d for d in month.disputes if d.status == "lost")
    assert write_off.clearing_amount == 0
    assert books.balance("Bad Debt") == Decimal(lost.amount) / 100
    pending = next(d for d in month.disputes if d.status == "under_review")
    payments = sum(month.charge_amounts.values())
    assert books.balance("Accounts Receivable") == Decimal(pending.amount - payments) / 100

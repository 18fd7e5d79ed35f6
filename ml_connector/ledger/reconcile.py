"""The reconciliation report: every Stripe balance transaction next to the QuickBooks transaction it
became, with the difference, which must be 0.00.

Amounts are signed effects on the Stripe balance (Stripe side) and on the clearing account (QuickBooks
side), in the home currency, so a row's difference is simply ``stripe_amount - qb_amount`` and the
totals of both columns are the movement of the balance and of the clearing account.

A balance transaction that is not posted is still listed, with why: ``refused`` (currency) and
``waiting`` (its charge is not in QuickBooks yet) are real differences; ``in_transit`` (a payout not
yet paid: Stripe's balance is already lower, the bank has nothing yet) and ``nets_out`` (a payout that
failed before it was paid and its return) are expected and reported apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from ml_connector.ledger.model import BalanceTxn
from ml_connector.ledger.postings import ZERO, LedgerPlan
from ml_connector.ledger.requests import qb_txn_type

RowStatus = Literal["matched", "different", "missing", "refused", "waiting", "in_transit", "nets_out"]
EXPECTED_UNPOSTED: frozenset[str] = frozenset({"in_transit", "nets_out"})


@dataclass(frozen=True)
class QbTxn:
    """What a posting became in QuickBooks, as read back (``clearing_amount`` signed, home currency)."""

    posting_key: str
    txn_id: str
    txn_type: str
    clearing_amount: Decimal


@dataclass(frozen=True)
class ReconRow:
    """One line of the report: the balance transactions one posting covered (or one left unposted), the
    QuickBooks transaction they became (None when there is none) and the difference; ``note`` says why a
    row is not matched."""

    balance_txn_ids: tuple[str, ...]
    stripe_type: str
    source_id: str
    txn_date: date | None
    stripe_amount: Decimal
    qb_txn_id: str | None
    qb_type: str | None
    qb_amount: Decimal | None
    difference: Decimal
    status: RowStatus
    note: str = ""


@dataclass(frozen=True)
class ReconReport:
    """A row per Stripe balance transaction beside what QuickBooks holds for it. Rows not meant to be in
    QuickBooks yet (``EXPECTED_UNPOSTED``) count in `unposted_total`, not in `stripe_total`."""

    title: str
    rows: tuple[ReconRow, ...]

    @property
    def stripe_total(self) -> Decimal:
        return sum((r.stripe_amount for r in self.rows if r.status not in EXPECTED_UNPOSTED), ZERO)

    @property
    def qb_total(self) -> Decimal:
        return sum((r.qb_amount or ZERO for r in self.rows), ZERO)

    @property
    def difference_total(self) -> Decimal:
        return sum((r.difference for r in self.rows), ZERO)

    @property
    def unposted_total(self) -> Decimal:
        return sum((r.stripe_amount for r in self.rows if r.status in EXPECTED_UNPOSTED), ZERO)

    @property
    def balanced(self) -> bool:
        return all(r.difference == 0 for r in self.rows)


def reconcile(
    title: str,
    txns: Iterable[BalanceTxn],
    plan: LedgerPlan,
    posted: Mapping[str, QbTxn],
) -> ReconReport:
    """Rows for the balance transactions ``txns`` (a payout's, or a date range's).

    ``plan`` is the ledger plan covering them and ``posted`` maps posting keys to what QuickBooks holds.
    A posting spanning several transactions (fees per payout) is one row when any of them is selected.
    """
    selected = {t.id: t for t in txns}
    rows: list[ReconRow] = []
    for posting in plan.postings:
        covered = [i for i in posting.balance_txn_ids if i in selected]
        if posting.balance_txn_ids and not covered:
            continue
        if not posting.balance_txn_ids:
            continue  # a write-off moves no Stripe money; it is in QuickBooks' reports, not this one
        first = selected[covered[0]]
        stripe_type = posting.kind if posting.kind in ("payout_fees", "fee") else first.reporting_category
        found = posted.get(posting.key)
        if found is None:
            rows.append(ReconRow(
                tuple(covered), stripe_type, posting.source_id, posting.txn_date, posting.clearing_amount, None,
                qb_txn_type(posting), None, posting.clearing_amount, "missing", f"{posting.key} not in QuickBooks",
            ))
            continue
        difference = posting.clearing_amount - found.clearing_amount
        rows.append(ReconRow(
            tuple(covered), stripe_type, posting.source_id, posting.txn_date, posting.clearing_amount,
            found.txn_id, found.txn_type, found.clearing_amount, difference,
            "matched" if difference == 0 else "different",
        ))
    for skipped in plan.skipped:
        txn = selected.get(skipped.balance_txn_id)
        if txn is None or skipped.amount == 0:
            continue
        expected = skipped.reason in EXPECTED_UNPOSTED
        rows.append(ReconRow(
            (txn.id,), txn.reporting_category, txn.source_id or txn.id, txn.txn_date, skipped.amount, None, None,
            None, ZERO if expected else skipped.amount, skipped.reason, skipped.message,
        ))
    rows.sort(key=lambda r: (r.txn_date or date.min, r.balance_txn_ids, r.stripe_type))
    return ReconReport(title=title, rows=tuple(rows))


def for_payout(payout_id: str, txns: Iterable[BalanceTxn]) -> list[BalanceTxn]:
    """The transactions of one payout: those it swept, and the payout's own."""
    return [t for t in txns if t.payout_id == payout_id or t.source_id == payout_id]


def for_dates(start: date, end: date, txns: Iterable[BalanceTxn]) -> list[BalanceTxn]:
    """Transactions created from ``start`` to ``end`` inclusive (UTC dates, as Stripe's reports)."""
    if end < start:
        raise ValueError("the end date is before the start date")
    return [t for t in txns if start <= t.txn_date <= end]

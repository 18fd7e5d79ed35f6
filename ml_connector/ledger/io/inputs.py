"""What the ledger planner needs besides the balance transactions, read from Stripe and our database.

Shared by the ledger activities (which post) and ``ml-connector reconcile`` (which reports) so that both
plan from exactly the same inputs: the same plan means the same posting keys, and the report's "missing"
rows are exactly what the workflow has yet to post.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine

from ml_connector.ledger.io import store
from ml_connector.ledger.io.stripe_reader import StripeLedgerReader
from ml_connector.ledger.model import (
    DISPUTE,
    DISPUTE_REVERSAL,
    PAYOUT,
    PAYOUT_REVERSAL,
    BalanceTxn,
    ChargeContext,
    Dispute,
    LedgerPolicy,
    Payout,
)
from ml_connector.ledger.postings import LedgerPlan, plan


@dataclass(frozen=True)
class PlanInputs:
    txns: tuple[BalanceTxn, ...]
    charges: dict[str, ChargeContext]
    payouts: dict[str, Payout]
    disputes: tuple[Dispute, ...]

    def plan(self, policy: LedgerPolicy) -> LedgerPlan:
        return plan(self.txns, policy, charges=self.charges, payouts=self.payouts, disputes=self.disputes)


def merge(*groups: Iterable[BalanceTxn]) -> tuple[BalanceTxn, ...]:
    """One copy of each transaction; the copy that knows its payout wins (listed by ``?payout=``)."""
    found: dict[str, BalanceTxn] = {}
    for group in groups:
        for txn in group:
            known = found.get(txn.id)
            if known is None or (known.payout_id is None and txn.payout_id is not None):
                found[txn.id] = txn
    return tuple(sorted(found.values(), key=lambda t: (t.created, t.id)))


def gather(
    reader: StripeLedgerReader,
    engine: Engine,
    company_id: str,
    txns: Iterable[BalanceTxn],
    *,
    payout_ids: Iterable[str] = (),
    dispute_ids: Iterable[str] = (),
) -> PlanInputs:
    """Complete ``txns`` with what planning them needs.

    - every payout they mention (plus ``payout_ids``) is read from Stripe, with whether it was ever paid
      (from the stored ``payout.paid`` webhook: a payout that failed after reaching the bank keeps its
      deposit), and its swept transactions are listed so each knows its payout (fees per payout);
    - disputes they mention (plus ``dispute_ids``) are read, with the day they closed (stored
      ``charge.dispute.closed``), for the lost-dispute write-off;
    - the charges they concern are looked up in our charge links.
    """
    listed = list(txns)
    wanted_payouts = set(payout_ids) | {
        t.source_id for t in listed if t.reporting_category in (PAYOUT, PAYOUT_REVERSAL) and t.source_id
    }
    paid = store.event_seen(engine, "payout.paid", wanted_payouts)
    payouts: dict[str, Payout] = {}
    swept: list[BalanceTxn] = []
    for payout_id in sorted(wanted_payouts):
        payout = reader.payout(payout_id, was_paid=payout_id in paid)
        payouts[payout_id] = payout
        if payout.status == "paid" or payout.was_paid:
            swept.extend(reader.payout_txns(payout_id))
    all_txns = merge(listed, swept)
    wanted_disputes = set(dispute_ids) | {
        t.source_id
        for t in all_txns
        if t.reporting_category in (DISPUTE, DISPUTE_REVERSAL)
        and t.source_id
        and t.source_id.startswith(("dp_", "du_"))  # Stripe issues both
    }
    closed = store.closed_on(engine, wanted_disputes)
    disputes = tuple(reader.dispute(d, closed_on=closed.get(d)) for d in sorted(wanted_disputes))
    charge_ids = {t.charge_id for t in all_txns if t.charge_id} | {d.charge_id for d in disputes}
    charges = store.charges(engine, company_id, charge_ids)
    return PlanInputs(txns=all_txns, charges=charges, payouts=payouts, disputes=disputes)

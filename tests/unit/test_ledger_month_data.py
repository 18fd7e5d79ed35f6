"""A month of Stripe activity as balance transactions, built the way Stripe's ledger works, for the
ledger tests: 300 card payments (fee 2.9% + 30), 20 refunds (5 partial, one charge refunded twice),
3 disputes (won, lost, pending; fee 15.00) and 6 automatic payouts sweeping the available balance."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ml_connector.ledger.model import BalanceTxn, ChargeContext, Dispute, Payout

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DISPUTE_FEE = 1500


def stripe_fee(amount: int) -> int:
    return int((Decimal(amount) * Decimal("0.029")).quantize(Decimal(1), rounding=ROUND_HALF_UP)) + 30


def _available(created: datetime) -> datetime:
    return datetime.combine(created.date() + 2 * DAY, datetime.min.time(), tzinfo=UTC)


@dataclass
class Month:
    txns: list[BalanceTxn] = field(default_factory=list)
    charges: dict[str, ChargeContext] = field(default_factory=dict)
    charge_amounts: dict[str, int] = field(default_factory=dict)
    payouts: dict[str, Payout] = field(default_factory=dict)
    disputes: list[Dispute] = field(default_factory=list)
    now: datetime = START
    counter: int = 0

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter:06d}"

    def add(self, *, category: str, amount: int, fee: int, source: str, created: datetime,
            charge_id: str | None = None, txn_type: str | None = None) -> BalanceTxn:
        txn = BalanceTxn(
            id=self._id("txn"), type=txn_type or category, reporting_category=category, amount=amount, fee=fee,
            net=amount - fee, currency="usd", created=created, available_on=_available(created),
            source_id=source, charge_id=charge_id,
        )
        self.txns.append(txn)
        return txn

    def pay(self, created: datetime, amount: int) -> str:
        charge_id = self._id("ch")
        self.add(category="charge", amount=amount, fee=stripe_fee(amount), source=charge_id, created=created,
                 charge_id=charge_id)
        self.charges[charge_id] = ChargeContext(
            charge_id=charge_id, customer_list_id=f"8000{self.counter:04X}-1700000000",
            invoice_txn_id=f"{self.counter:X}-1700000000", invoice_ref_number=str(1000 + self.counter),
        )
        self.charge_amounts[charge_id] = amount
        return charge_id

    def refund(self, created: datetime, charge_id: str, amount: int) -> None:
        self.add(category="refund", amount=-amount, fee=0, source=self._id("re"), created=created,
                 charge_id=charge_id)

    def dispute(self, created: datetime, charge_id: str) -> str:
        dispute_id = self._id("dp")
        amount = self.charge_amounts[charge_id]
        self.add(category="dispute", amount=-amount, fee=DISPUTE_FEE, source=dispute_id, created=created,
                 charge_id=charge_id, txn_type="adjustment")
        return dispute_id

    def payout(self, when: datetime) -> Payout:
        """Sweep every transaction available at ``when`` and not yet paid out (automatic payouts)."""
        swept = [t for t in self.txns if t.payout_id is None and t.available_on <= when
                 and t.reporting_category != "payout"]
        payout_id = self._id("po")
        amount = sum(t.net for t in swept)
        self.txns = [
            BalanceTxn(**{**t.__dict__, "payout_id": payout_id}) if t in swept else t for t in self.txns
        ]
        txn = self.add(category="payout", amount=-amount, fee=0, source=payout_id, created=when)
        # A payout leaves the available balance the moment it is created.
        self.txns[-1] = BalanceTxn(**{**txn.__dict__, "payout_id": payout_id, "available_on": when})
        payout = Payout(id=payout_id, amount=amount, currency="usd", status="paid",
                        arrival_date=(when + DAY).date())
        self.payouts[payout_id] = payout
        return payout

    def balance(self, at: datetime) -> tuple[int, int]:
        """Stripe's (available, pending) at ``at``, computed from the transactions as Stripe does."""
        available = sum(t.net for t in self.txns if t.available_on <= at)
        pending = sum(t.net for t in self.txns if t.available_on > at)
        return available, pending


def build_month(seed: int = 7) -> Month:
    rng = random.Random(seed)
    month = Month()
    charge_ids: list[str] = []
    payout_days = {4, 9, 14, 19, 24, 29}
    for day in range(30):
        moment = START + day * DAY
        for i in range(10):
            charge_ids.append(month.pay(moment + timedelta(minutes=7 * i), rng.randrange(500, 250_000)))
        if day == 12:
            refunded = charge_ids[:15]
            for n, charge_id in enumerate(refunded):
                full = month.charge_amounts[charge_id]
                if n < 3:
                    month.refund(moment + timedelta(hours=3, minutes=n), charge_id, full // 3)
                else:
                    month.refund(moment + timedelta(hours=3, minutes=n), charge_id, full)
        if day == 13:
            twice = charge_ids[20]
            half = month.charge_amounts[twice] // 2
            month.refund(moment + timedelta(hours=3), twice, half)  # the fifth partial refund
            month.refund(moment + timedelta(hours=4), twice, month.charge_amounts[twice] - half)
            for n, charge_id in enumerate(charge_ids[30:33]):
                month.refund(moment + timedelta(hours=5, minutes=n), charge_id, month.charge_amounts[charge_id])
        if day == 15:
            won, lost, pending = charge_ids[40], charge_ids[41], charge_ids[42]
            won_id = month.dispute(moment + timedelta(hours=6), won)
            lost_id = month.dispute(moment + timedelta(hours=6, minutes=1), lost)
            pending_id = month.dispute(moment + timedelta(hours=6, minutes=2), pending)
        if day == 22:
            month.add(category="dispute_reversal", amount=month.charge_amounts[won], fee=0, source=won_id,
                      created=moment + timedelta(hours=6), charge_id=won, txn_type="adjustment")
            month.disputes = [
                Dispute(id=won_id, charge_id=won, amount=month.charge_amounts[won], currency="usd", status="won"),
                Dispute(id=lost_id, charge_id=lost, amount=month.charge_amounts[lost], currency="usd",
                        status="lost", closed_on=date(2026, 3, 23)),
                Dispute(id=pending_id, charge_id=pending, amount=month.charge_amounts[pending], currency="usd",
                        status="under_review"),
            ]
        if day in payout_days:
            month.payout(moment + timedelta(hours=23))
        month.now = moment + timedelta(hours=23, minutes=30)
    return month

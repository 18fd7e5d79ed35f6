"""A month of Stripe money in clearing-account mode, through the live system: 300 payments, 20 refunds (5
partial, one charge refunded twice), 3 disputes (won, lost, pending) and 6 payouts, every webhook delivered
twice and shuffled. The books must follow the money to the cent, and a second pass must post nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ml_connector.ledger.io.report import build_report, stripe_reader
from ml_connector.ledger.signals import LEDGER_RETRY_SIGNAL, ledger_workflow_id
from tests.ledger_support import LedgerWorld, ledger_world

pytestmark = pytest.mark.slow

CUSTOMERS = 30
PERIODS = 6  # each ends with a payout
PER_PERIOD = 45  # 6 x 45 = 270 paid out; 30 more stay pending at the month's end
PENDING_AT_END = 30


def _amount(n: int) -> int:
    """Varied, deterministic amounts in cents (12.34 … 987.65)."""
    return 1_234 + (n * 7_919) % 97_531


def _month(world: LedgerWorld) -> dict[str, object]:
    books, money, side = world.books, world.money, world.stripe
    with books.company.lock:
        customers = [books.company.add_customer(f"Month Customer {i:02d}").list_id for i in range(CUSTOMERS)]
    stripe_customers = []
    for i, list_id in enumerate(customers):
        cus = side.customer(f"Month Customer {i:02d}")
        world.link(cus, list_id)
        stripe_customers.append(cus)

    charges: list[str] = []
    payment_intents: list[str] = []
    refund_ids: list[str] = []
    disputes: dict[str, str] = {}
    payouts: list[str] = []

    def pay(n: int) -> None:
        k = n % CUSTOMERS
        cents = _amount(n)
        invoice = books.invoice(customers[k], Decimal(cents) / 100)
        pi = side.pay(stripe_customers[k], cents, {"qb_txn_id": invoice})
        payment_intents.append(pi)
        charges.append(money.charge_of(pi))

    n = 0
    for period in range(PERIODS):
        for _ in range(PER_PERIOD):
            pay(n)
            n += 1
        base = period * PER_PERIOD
        # 20 refunds over the month, 5 of them partial; the first period's first charge is refunded twice.
        picks = [base + 1, base + 5, base + 9] + ([base + 13] if period == 1 else [])
        for index, charge_index in enumerate(picks):
            partial = period < 4 and index == 0
            refund_ids.append(money.refund(charges[charge_index], 500 if partial else None))
        if period == 0:
            refund_ids.append(money.refund(charges[base + 1], 700))  # the same charge, refunded again
        if period == 1:
            disputes["won"] = money.dispute(charges[base + 20])
        if period == 2:
            money.close_dispute(disputes["won"], "won")
            disputes["lost"] = money.dispute(charges[base + 21])
        if period == 3:
            money.close_dispute(disputes["lost"], "lost")
        if period == 4:
            disputes["pending"] = money.dispute(charges[base + 22])
        money.advance_days(3)
        payout = money.payout()
        money.payout_status(payout, "in_transit")
        money.payout_status(payout, "paid")
        payouts.append(payout)
    for _ in range(PENDING_AT_END):
        pay(n)
        n += 1
    return {
        "payment_intents": payment_intents,
        "charges": charges,
        "refunds": refund_ids,
        "disputes": disputes,
        "payouts": payouts,
    }


async def test_a_month_of_payments_refunds_disputes_and_payouts_reconciles_to_the_cent(
    temporal_client, postgres_only_url
):
    # PostgreSQL only: the same code runs on SQLite in test_ledger_end_to_end; this one is about volume.
    # The fake Stripe server sets no rate limit; the client-side limiter need not hold the test back to 25/s.
    async with ledger_world(
        postgres_only_url, temporal_client, duplicates=1.0, shuffle=True, MLC_STRIPE_RATE_LIMIT="200"
    ) as world:
        story = await asyncio.to_thread(_month, world)  # blocking SDK calls, off the gateway's event loop
        refunds: list[str] = story["refunds"]  # type: ignore[assignment]
        payouts: list[str] = story["payouts"]  # type: ignore[assignment]
        pis: list[str] = story["payment_intents"]  # type: ignore[assignment]
        assert (len(pis), len(refunds), len(payouts)) == (300, 20, 6)

        await world.stripe.deliver(timeout=300)
        # 300 payments + 300 fees + 20 refunds + 3 withdrawals + 1 reinstatement + 6 payout deposits
        expected = 300 + 300 + 20 + 4 + 6
        await world.drive(lambda: len(world.postings()) >= expected, f"{expected} postings", timeout=900)

        postings = world.postings()
        assert len(postings) == expected
        assert len(world.system.processor.ledger.txns) == expected - 300 + 20, (
            "one QuickBooks transaction per posting; a refund is two (credit memo and card refund)"
        )
        assert len(world.books.company.receive_payments) == 300, "one ReceivePayment per Stripe payment"
        balance = world.stripe.client.v1.balance.retrieve()
        available = sum(b.amount for b in balance.available)
        pending = sum(b.amount for b in balance.pending)
        assert available == 0, "everything available was paid out"
        assert world.balance("Stripe Clearing") == Decimal(pending) / 100, "clearing = Stripe's pending balance"
        total_paid_out = Decimal(0)
        for payout in payouts:
            amount = world.money.payout_amount(payout)
            total_paid_out += amount
            deposit = world.system.processor.ledger.txns[postings[f"payout:{payout}"].qb_txn_id]
            assert sum(line.debit for line in deposit.lines if line.debit > 0) == amount, (
                f"the bank deposit of {payout} is exactly the payout"
            )
        assert world.balance("Checking") == total_paid_out
        assert not [e for e in world.audit() if e.action.startswith("ledger.") and e.outcome != "ok"]

        # The reconciliation report: every balance transaction next to what it became, no difference.
        reader = stripe_reader(world.system.settings)
        for payout in payouts:
            report = await asyncio.to_thread(
                build_report, world.system.settings, world.system.engine, reader, world.company_id, payout_id=payout
            )
            assert report.balanced and report.rows, f"payout {payout} reconciles"
        today = datetime.now(UTC).date()
        month = await asyncio.to_thread(
            build_report, world.system.settings, world.system.engine, reader, world.company_id,
            start=today - timedelta(days=2), end=today + timedelta(days=40),
        )
        assert month.balanced, [r for r in month.rows if r.difference != 0][:5]
        assert {r.status for r in month.rows} <= {"matched"}, "every transaction of the month is in QuickBooks"
        assert len([r for r in month.rows if r.stripe_type == "charge"]) == 300

        handle = temporal_client.get_workflow_handle(ledger_workflow_id(world.company_id))
        before_passes = await handle.query("passes")
        before = (len(world.system.processor.ledger.txns), len(world.books.company.receive_payments))
        await handle.signal(LEDGER_RETRY_SIGNAL)
        for _ in range(240):
            if await handle.query("passes") > before_passes:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the second ledger pass did not finish")
        assert (len(world.system.processor.ledger.txns), len(world.books.company.receive_payments)) == before
        assert len(world.postings()) == expected, "a second run posts nothing"

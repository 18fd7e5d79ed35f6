"""The end-to-end exactly-once scenario: Stripe payments on invoices, through everything that goes wrong.

Every webhook arrives three times and out of order, QuickBooks is closed for two sessions, the answers to two
documents of many ReceivePaymentAdds are lost after QuickBooks ran them (the Web Connector dies once, and
reports 0x80040402 once), the worker is killed mid-flight. The company must end with exactly one correct
ReceivePayment per Stripe payment, invoice balances right to the cent, and an audit row for each payment,
under every reading of QuickBooks' error-recovery answer (``RecoveryAnswer``: the status of the last request
processed, nothing, 600, every stored Rs), since the real shape is unconfirmed (PROTOCOL.md section 5): 40
payments on 30 invoices under every reading on both databases, and 200 on 150 once at scale.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from sqlmodel import Session, select
from temporalio.client import Client

from activities.audit import FOUND, POSTED, UNAPPLIED
from ml_connector.qbxml.payments import external_guid_for
from ml_connector.simulator.processor import RecoveryAnswer
from ml_connector.storage.models import QbBatch, QbRequest
from tests.payments_support import Books, World, payments_world

pytestmark = pytest.mark.slow


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


@dataclass
class Scenario:
    """Payments on invoices in every shape ml-connector matches, in two waves of webhooks.

    Two thirds of the invoices are paid in full (every fifth through a Stripe invoice carrying ``qb_txn_id``),
    a fifth in two partial payments (the first naming the RefNumber, the second the TxnID), the rest overpaid
    by 5.00 (the rest stays as credit); and some payments name no invoice and match none. The second wave (the
    second partial payments, the overpayments, the unmatched) is paid after the worker restarts, so the second
    lost answer has a fresh document of ReceivePaymentAdds to hit whatever the first faults settled.
    """

    payments: list[str] = field(default_factory=list)
    first_wave: list[str] = field(default_factory=list)
    expected_balance: dict[str, Decimal] = field(default_factory=dict)  # invoice TxnID -> balance after
    expected_credit: dict[str, Decimal] = field(default_factory=dict)  # Stripe payment -> unused amount
    second_wave: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def build(cls, world: World, invoices: int, customers: int) -> Scenario:
        books, stripe_side, scenario = world.books, world.stripe, cls()
        stripe_customers: list[str] = []
        qb_customers: list[str] = []
        for i in range(customers):
            with books.company.lock:
                qb_customers.append(books.company.add_customer(f"Scenario Customer {i:02d}").list_id)
            stripe_customers.append(stripe_side.customer(f"Scenario Customer {i:02d}"))
            world.link(stripe_customers[i], qb_customers[i])
        full, partial = invoices * 2 // 3, invoices // 5
        for n in range(invoices):
            cus, amount = stripe_customers[n % customers], Decimal(100 + 7 * n) + Decimal(n % 100) / 100
            txn = books.invoice(qb_customers[n % customers], amount)
            scenario.expected_balance[txn] = Decimal("0.00")
            if n < full:
                if n % 5 == 0:
                    scenario.pay_now(stripe_side.pay_invoice(cus, _cents(amount), {"qb_txn_id": txn})[1])
                else:
                    scenario.pay_now(stripe_side.pay(cus, _cents(amount), {"qb_txn_id": txn}))
            elif n < full + partial:
                first = (amount * Decimal("0.4")).quantize(Decimal("0.01"))
                ref = books.company.invoices[txn].ref_number
                assert ref is not None
                scenario.pay_now(stripe_side.pay(cus, _cents(first), {"qb_invoice_ref": ref}))
                scenario.pay_later(
                    lambda c=cus, a=amount - first, t=txn: stripe_side.pay(c, _cents(a), {"qb_txn_id": t})
                )
            else:
                scenario.pay_later(
                    lambda c=cus, a=amount, t=txn: stripe_side.pay(c, _cents(a + 5), {"qb_txn_id": t}),
                    credit=Decimal("5.00"),
                )
        for k in range(invoices * 2 // 15):
            scenario.pay_later(lambda c=stripe_customers[k % customers], k=k: stripe_side.pay(c, 1234 + k),
                               credit=Decimal(1234 + k) / 100)  # fmt: skip
        return scenario

    def pay_now(self, payment_intent: str) -> None:
        self.payments.append(payment_intent)
        self.first_wave.append(payment_intent)

    def pay_later(self, pay: Callable[[], str], credit: Decimal | None = None) -> None:
        def later() -> None:
            payment_intent = pay()
            self.payments.append(payment_intent)
            if credit is not None:
                self.expected_credit[payment_intent] = credit

        self.second_wave.append(later)

    def pay_second_wave(self) -> None:
        for pay in self.second_wave:
            pay()


async def _booked_exactly_once_despite_every_fault(
    temporal_client: Client, database_url: str, reading: RecoveryAnswer, *, invoices: int, customers: int,
    max_requests: int,
) -> None:  # fmt: skip
    books = Books.fresh()
    async with payments_world(
        database_url,
        temporal_client,
        books,
        duplicates=1.0,
        shuffle=True,
        MLC_LINGER_SECONDS="4",
        # Documents of at most this many requests: the first wave needs several documents of adds, so the first
        # loss finds a document of payments to hit, whatever QuickBooks being closed settled.
        MLC_BATCH_MAX_REQUESTS=str(max_requests),
    ) as world:
        world.system.processor.recovery_answer = reading
        scenario = Scenario.build(world, invoices, customers)
        await world.stripe.deliver(timeout=120)
        wc = world.system.web_connector()

        wc.faults.quickbooks_closed = True  # QuickBooks is closed for two sessions
        closed = [await asyncio.to_thread(wc.run_session) for _ in range(2)]
        wc.faults.quickbooks_closed = False

        # The next document of many ReceivePaymentAdds runs in QuickBooks and its answer never reaches us:
        # the Web Connector dies (no receiveResponseXML, no closeConnection).
        wc.faults.lose_write_documents = 1
        sessions = 0
        while wc.faults.lose_write_documents and sessions < 10:
            lost = await asyncio.to_thread(wc.run_session)
            sessions += 1

        await world.system.stop_worker()  # the worker dies mid-flight
        await asyncio.to_thread(wc.run_session)
        await world.system.start_worker()

        # The second wave is paid; once more, with the Web Connector alive: it reports 0x80040402 for a
        # document QuickBooks ran.
        world.stripe.hold_webhooks()
        scenario.pay_second_wave()
        await world.stripe.deliver(timeout=120)
        wc.faults.lose_write_documents = 1
        wc.faults.lose_response_mode = "hresult"
        await world.settle(scenario.payments, wc=wc, timeout=300)

        assert [c.outcome for c in closed] == ["connection_failed"] * 2
        assert lost.outcome == "died", "a response was lost mid-batch"
        assert wc.faults.lose_write_documents == 0, "the second answer was lost too"
        with Session(world.system.engine) as db:
            recovered = db.exec(
                select(QbBatch).where(QbBatch.status == "recovered", QbBatch.has_writes)
            ).all()
            uncertain = db.exec(select(QbRequest).where(QbRequest.status == "uncertain")).all()
            ids = [b.id for b in db.exec(select(QbBatch)).all()]
        assert len(recovered) >= 2, "both lost documents of payments were asked about with oldMessageSetID"
        assert all(len(i) <= 23 for i in ids), "message-set ids within Intuit's 23 characters"
        if reading is RecoveryAnswer.ALL:
            assert not uncertain, "every stored Rs came back: nothing was left to verify"
        else:
            assert uncertain, "the recovery answer left writes unsettled: their workflows verified them"
            assert "ReceivePaymentAddRq" in {r.name for r in uncertain}
        payments, company = scenario.payments, books.company
        guids = Counter(p.external_guid for p in company.receive_payments.values())
        assert len(company.receive_payments) == len(payments)
        assert all(guids[external_guid_for(pi)] == 1 for pi in payments), "exactly one per Stripe payment"
        for txn, balance in scenario.expected_balance.items():
            assert company.invoices[txn].balance_remaining == balance, f"invoice {txn} balance"
        booked = world.booked()
        for pi, credit in scenario.expected_credit.items():
            assert company.receive_payments[booked[pi]].unused_payment == credit, f"{pi} credit"
        # Posted, or found by ExternalGUID when an uncertain attempt had landed: either way with its TxnID.
        in_quickbooks = world.audit(POSTED, UNAPPLIED, FOUND)
        assert {e.stripe_object_id for e in in_quickbooks} == set(payments), "an audit row for each payment"
        assert all(e.qb_txn_id == booked[e.stripe_object_id] for e in in_quickbooks)
        total_paid = sum((p.total_amount for p in company.receive_payments.values()), Decimal(0))
        assert total_paid == sum(
            (Decimal(pi.amount_received) / 100 for pi in _stripe_payments(world.stripe, payments)), Decimal(0)
        )


@pytest.mark.parametrize("reading", list(RecoveryAnswer))
async def test_40_payments_on_30_invoices_are_booked_exactly_once_despite_every_fault_under_every_reading(
    temporal_client, database_url, reading
):
    """The scale at which the independent Web Connector turned 40 payments into 47 ReceivePayments."""
    await _booked_exactly_once_despite_every_fault(
        temporal_client, database_url, reading, invoices=30, customers=10, max_requests=8
    )


async def test_200_payments_on_150_invoices_are_booked_exactly_once_despite_every_fault(
    temporal_client, postgres_only_url
):
    """The same at five times the scale, on the default reading: documents full of adds, many in flight at once.
    (PostgreSQL only, to keep the suite short: every reading and both databases run at 40 payments above.)"""
    await _booked_exactly_once_despite_every_fault(
        temporal_client, postgres_only_url, RecoveryAnswer.LAST, invoices=150, customers=30, max_requests=40
    )


def _stripe_payments(stripe_side, ids):  # type: ignore[no-untyped-def]
    return [stripe_side.client.v1.payment_intents.retrieve(pi) for pi in ids]

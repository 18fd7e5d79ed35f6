"""The end-to-end exactly-once scenario: 200 Stripe payments on 150 invoices, through everything that goes wrong.

Every webhook arrives three times and out of order, QuickBooks is closed for two sessions, the answers to two
documents of many ReceivePaymentAdds are lost after QuickBooks ran them (the Web Connector dies once, and
reports 0x80040402 once), the worker is killed mid-flight. The company must end with exactly one correct
ReceivePayment per Stripe payment, invoice balances right to the cent, and an audit row for each payment,
under every reading of QuickBooks' error-recovery answer (``RecoveryAnswer``: the status of the last request
processed, nothing, 600, every stored Rs), since the real shape is unconfirmed (PROTOCOL.md section 5).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from activities.audit import FOUND, POSTED, UNAPPLIED
from ml_connector.qbxml.payments import external_guid_for
from ml_connector.simulator.processor import RecoveryAnswer
from ml_connector.storage.models import QbBatch, QbRequest
from tests.payments_support import Books, payments_world

pytestmark = pytest.mark.slow

CUSTOMERS = 30


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


@pytest.mark.parametrize("reading", list(RecoveryAnswer))
async def test_200_payments_on_150_invoices_are_booked_exactly_once_despite_every_fault(
    temporal_client, database_url, reading
):
    books = Books.fresh()
    async with payments_world(
        database_url,
        temporal_client,
        books,
        duplicates=1.0,
        shuffle=True,
        MLC_LINGER_SECONDS="4",
        # At most 40 requests a document: 200 payments need at least five documents of adds, so both
        # losses below find a document of payments to hit, whatever the first one settled.
        MLC_BATCH_MAX_REQUESTS="40",
    ) as world:
        world.system.processor.recovery_answer = reading
        stripe_side = world.stripe
        stripe_customers: list[str] = []
        qb_customers: list[str] = []
        for i in range(CUSTOMERS):
            with books.company.lock:
                qb_customers.append(books.company.add_customer(f"Scenario Customer {i:02d}").list_id)
            stripe_customers.append(stripe_side.customer(f"Scenario Customer {i:02d}"))
            world.link(stripe_customers[i], qb_customers[i])

        invoices: list[tuple[str, int, Decimal]] = []  # (TxnID, customer index, amount)
        for n in range(150):
            who = n % CUSTOMERS
            amount = Decimal(100 + 7 * n) + Decimal(n % 100) / 100
            invoices.append((books.invoice(qb_customers[who], amount), who, amount))

        expected_balance: dict[str, Decimal] = {}
        expected_credit: dict[str, Decimal] = {}  # Stripe payment -> unused amount
        payments: list[str] = []
        for n, (txn, who, amount) in enumerate(invoices):
            cus = stripe_customers[who]
            if n < 100:  # paid in full; every fifth through a Stripe invoice carrying qb_txn_id
                if n % 5 == 0:
                    _, pi = stripe_side.pay_invoice(cus, _cents(amount), {"qb_txn_id": txn})
                else:
                    pi = stripe_side.pay(cus, _cents(amount), {"qb_txn_id": txn})
                payments.append(pi)
                expected_balance[txn] = Decimal("0.00")
            elif n < 130:  # two partial payments; the first by RefNumber, the second by TxnID
                first = (amount * Decimal("0.4")).quantize(Decimal("0.01"))
                ref = books.company.invoices[txn].ref_number
                assert ref is not None
                payments.append(stripe_side.pay(cus, _cents(first), {"qb_invoice_ref": ref}))
                payments.append(stripe_side.pay(cus, _cents(amount - first), {"qb_txn_id": txn}))
                expected_balance[txn] = Decimal("0.00")
            else:  # overpaid by 5.00: the rest stays as credit
                pi = stripe_side.pay(cus, _cents(amount + 5), {"qb_txn_id": txn})
                payments.append(pi)
                expected_credit[pi] = Decimal("5.00")
                expected_balance[txn] = Decimal("0.00")
        for k in range(20):  # unmatched: no invoice named, no open invoice with that balance
            pi = stripe_side.pay(stripe_customers[k], 1234 + k)
            payments.append(pi)
            expected_credit[pi] = Decimal(1234 + k) / 100
        assert len(payments) == 200

        await stripe_side.deliver(timeout=120)
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

        # Once more, with the Web Connector alive: it reports 0x80040402 for a document QuickBooks ran.
        wc.faults.lose_write_documents = 1
        wc.faults.lose_response_mode = "hresult"
        await world.settle(payments, wc=wc, timeout=300)

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
        company = books.company
        guids = Counter(p.external_guid for p in company.receive_payments.values())
        assert len(company.receive_payments) == 200
        assert all(guids[external_guid_for(pi)] == 1 for pi in payments), "exactly one per Stripe payment"
        for txn, balance in expected_balance.items():
            assert company.invoices[txn].balance_remaining == balance, f"invoice {txn} balance"
        booked = world.booked()
        for pi, credit in expected_credit.items():
            assert company.receive_payments[booked[pi]].unused_payment == credit, f"{pi} credit"
        # Posted, or found by ExternalGUID when an uncertain attempt had landed: either way with its TxnID.
        in_quickbooks = world.audit(POSTED, UNAPPLIED, FOUND)
        assert {e.stripe_object_id for e in in_quickbooks} == set(payments), "an audit row for each payment"
        assert all(e.qb_txn_id == booked[e.stripe_object_id] for e in in_quickbooks)
        total_paid = sum((p.total_amount for p in company.receive_payments.values()), Decimal(0))
        assert total_paid == sum(
            (Decimal(pi.amount_received) / 100 for pi in _stripe_payments(stripe_side, payments)), Decimal(0)
        )


def _stripe_payments(stripe_side, ids):  # type: ignore[no-untyped-def]
    return [stripe_side.client.v1.payment_intents.retrieve(pi) for pi in ids]

"""Clearing-account mode end to end: payments, fees, refunds, a dispute and a payout reach QuickBooks once,
and the books follow Stripe's money to the cent."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlmodel import Session, delete

from ml_connector.fakestripe.money import processing_fee
from ml_connector.ledger.signals import LEDGER_RESCAN_SIGNAL, LEDGER_RETRY_SIGNAL, ledger_workflow_id
from ml_connector.simulator.processor import RecoveryAnswer
from ml_connector.storage.models import LedgerPosting
from tests.ledger_support import ledger_world

pytestmark = pytest.mark.slow


def _dollars(cents: int) -> Decimal:
    return Decimal(cents) / 100


async def test_refunds_a_dispute_fees_and_a_payout_follow_stripe_into_the_clearing_account(
    temporal_client, database_url
):
    # "Stripe Balance", the refund item and its income account do not exist yet: ml-connector creates them.
    async with ledger_world(
        database_url, temporal_client, duplicates=1.0, shuffle=True, MLC_CLEARING_ACCOUNT="Stripe Balance"
    ) as world:
        books, money = world.books, world.money
        with books.company.lock:
            customer = books.company.add_customer("Juniper Analytics").list_id
        cus = world.stripe.customer("Juniper Analytics")
        world.link(cus, customer)
        amounts = [10_000, 20_000, 30_000]
        invoices = [books.invoice(customer, _dollars(a)) for a in amounts]
        pis = [world.stripe.pay(cus, a, {"qb_txn_id": inv}) for a, inv in zip(amounts, invoices, strict=True)]
        charges = [money.charge_of(pi) for pi in pis]
        fees = [processing_fee(a) for a in amounts]

        await world.stripe.deliver()
        await world.drive(
            lambda: set(pis) <= world.booked() and sum(k.startswith("fee:") for k in world.postings()) == 3,
            "three payments and their fees",
        )
        assert world.balance("Stripe Balance") == money.balance(), "clearing mirrors the Stripe balance"

        first_refund = money.refund(charges[0], 3_000)
        second_refund = money.refund(charges[0], 2_000)  # the same charge refunded twice
        money.dispute(charges[1])
        await world.stripe.deliver()
        await world.drive(
            lambda: {f"refund:{first_refund}", f"refund:{second_refund}"} <= set(world.postings())
            and any(k.startswith("dispute:") for k in world.postings()),
            "two partial refunds and the dispute",
        )
        assert world.balance("Stripe Balance") == money.balance()

        money.advance_days(3)
        payout = money.payout()
        money.payout_status(payout, "in_transit")
        money.payout_status(payout, "paid")
        await world.stripe.deliver()
        await world.drive(lambda: f"payout:{payout}" in world.postings(), "the payout deposit")

        postings = world.postings()
        assert world.balance("Checking") == money.payout_amount(payout), "the bank sees exactly the payout"
        assert world.balance("Stripe Balance") == money.balance() == Decimal("0.00"), "all paid out"
        assert world.balance("Merchant Fees") == _dollars(sum(fees) + 1_500), "charge fees plus the dispute fee"
        assert len(books.company.receive_payments) == 3
        assert all(
            p.deposit_to_account_id == books.company.find_account(full_name="Stripe Balance").list_id  # type: ignore[union-attr]
            for p in books.company.receive_payments.values()
        )
        assert postings[f"refund:{first_refund}"].qb_txn_type == "ARRefundCreditCard"
        created = books.company.find_account(full_name="Stripe Balance")
        assert created is not None and created.account_type == "Bank"
        assert books.company.find_item(full_name="Stripe Refund") is not None
        assert Decimal(postings[f"payout:{payout}"].qb_amount) == -money.payout_amount(payout)
        assert not [e for e in world.audit() if e.action.startswith("ledger.") and e.outcome != "ok"]
        assert world.system.processor.ledger.customer_balance_change(customer) == Decimal("200.00"), (
            "the disputed payment is owed again by the customer"
        )

        # A second pass (an operator's retry) finds everything posted and sends nothing.
        handle = temporal_client.get_workflow_handle(ledger_workflow_id(world.company_id))
        before_passes = await handle.query("passes")
        before = (len(world.system.processor.ledger.txns), len(postings))
        await handle.signal(LEDGER_RETRY_SIGNAL)
        for _ in range(120):
            if await handle.query("passes") > before_passes:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the retried ledger pass did not finish")
        assert (len(world.system.processor.ledger.txns), len(world.postings())) == before

        # Our records lost (a restored backup): a rescan from the start finds every posting in QuickBooks by
        # its ExternalGUID and records it again, adding nothing.
        with Session(world.system.engine) as db:
            db.exec(delete(LedgerPosting).where(LedgerPosting.kind != "payment"))  # type: ignore[call-overload,arg-type]
            db.commit()
        await handle.signal(LEDGER_RESCAN_SIGNAL, 0)
        await world.drive(lambda: len(world.postings()) == before[1], "the postings found again", timeout=120)
        assert len(world.system.processor.ledger.txns) == before[0], "nothing posted twice"
        refound = [p for p in world.postings().values() if p.kind != "payment"]
        assert refound and all(p.found_existing for p in refound)


# Every reading once, the databases taking turns: the recovery code under test is the same on both, and each
# database sees two readings (the payments scenario runs every reading on both).
READINGS_ACROSS_DATABASES = [
    pytest.param(database, reading, id=f"{database}-{reading.value}")
    for database, reading in zip(["postgresql", "sqlite"] * 2, list(RecoveryAnswer), strict=True)
]


@pytest.mark.parametrize(("database_url", "reading"), READINGS_ACROSS_DATABASES, indirect=["database_url"])
async def test_lost_answers_to_documents_of_postings_post_nothing_twice_under_every_recovery_reading(
    temporal_client, database_url, reading
):
    """The answers to two documents of many ledger writes (fees, refunds, their card refunds, a payout
    deposit) are lost after QuickBooks ran them. Whatever QuickBooks' error-recovery answer holds (the real
    shape is unconfirmed: RecoveryAnswer), every posting exists once and the clearing account mirrors Stripe."""
    async with ledger_world(
        database_url, temporal_client, duplicates=1.0, shuffle=True, MLC_CLEARING_ACCOUNT="Stripe Balance"
    ) as world:
        world.system.processor.recovery_answer = reading
        books, money = world.books, world.money
        with books.company.lock:
            customer = books.company.add_customer("Lost Answers Ltd").list_id
        cus = world.stripe.customer("Lost Answers Ltd")
        world.link(cus, customer)
        amounts = [5_000 + 137 * i for i in range(12)]
        invoices = [books.invoice(customer, _dollars(a)) for a in amounts]
        pis = [world.stripe.pay(cus, a, {"qb_txn_id": inv}) for a, inv in zip(amounts, invoices, strict=True)]
        charges = [money.charge_of(pi) for pi in pis]
        wc = world.system.web_connector()
        wc.faults.lose_write_documents = 1  # a document of payments and fees: the Web Connector dies
        await world.stripe.deliver()
        await world.drive(
            lambda: set(pis) <= world.booked() and sum(k.startswith("fee:") for k in world.postings()) == 12,
            "twelve payments and their fees",
            wc=wc,
        )
        refunds = [money.refund(charges[i], 1_000 + i) for i in range(6)]
        wc.faults.lose_write_documents = 1  # a document of refunds: QuickBooks' error reaches us (0x80040402)
        wc.faults.lose_response_mode = "hresult"
        await world.stripe.deliver()
        await world.drive(
            lambda: {f"refund:{r}" for r in refunds} <= set(world.postings()), "six refunds", wc=wc
        )
        money.advance_days(3)
        payout = money.payout()
        money.payout_status(payout, "paid")
        await world.stripe.deliver()
        await world.drive(lambda: f"payout:{payout}" in world.postings(), "the payout deposit", wc=wc)

        assert wc.faults.lose_write_documents == 0, "both answers were lost"
        postings = world.postings()
        ledger = world.system.processor.ledger
        keys = [(t.kind, t.external_guid) for t in ledger.txns.values()]
        assert len(keys) == len(set(keys)), "no ledger transaction posted twice (by kind and ExternalGUID)"
        assert len(ledger.txns) == 12 + 2 * 6 + 1, "fees, credit memo + card refund per refund, the deposit"
        assert len(books.company.receive_payments) == 12
        assert world.balance("Stripe Balance") == money.balance() == Decimal("0.00")
        assert world.balance("Checking") == money.payout_amount(payout)
        assert len([p for p in postings.values() if p.kind != "payment"]) == 12 + 6 + 1


async def test_fees_per_payout_and_a_lost_dispute_written_off(temporal_client, postgres_only_url):
    # PostgreSQL only to keep the suite short: the database code is the same as in the test above.
    async with ledger_world(
        postgres_only_url,
        temporal_client,
        shuffle=True,
        MLC_FEE_MODE="per_payout",
        MLC_LOST_DISPUTE="write_off",
        MLC_WRITE_OFF_ACCOUNT="Bad Debt",
    ) as world:
        books, money = world.books, world.money
        with books.company.lock:
            customer = books.company.add_customer("Larkspur Studio").list_id
        cus = world.stripe.customer("Larkspur Studio")
        world.link(cus, customer)
        amounts = [40_000, 25_000]
        invoices = [books.invoice(customer, _dollars(a)) for a in amounts]
        pis = [world.stripe.pay(cus, a, {"qb_txn_id": inv}) for a, inv in zip(amounts, invoices, strict=True)]
        charges = [money.charge_of(pi) for pi in pis]
        dispute = money.dispute(charges[1])
        money.close_dispute(dispute, "lost")
        money.advance_days(3)
        payout = money.payout()
        money.payout_status(payout, "paid")
        await world.stripe.deliver()
        await world.drive(
            lambda: {f"payout:{payout}", f"payout_fees:{payout}", f"dispute_lost:{dispute}"} <= set(world.postings()),
            "the payout, its fees in one entry, and the write-off",
        )
        postings = world.postings()
        assert not [k for k in postings if k.startswith("fee:")], "no fee entry per charge in per-payout mode"
        fees = sum(processing_fee(a) for a in amounts)
        assert Decimal(postings[f"payout_fees:{payout}"].qb_amount) == -_dollars(fees)
        assert world.balance("Merchant Fees") == _dollars(fees + 1_500)
        assert world.balance("Bad Debt") == Decimal("250.00"), "the lost dispute is written off"
        assert world.system.processor.ledger.customer_balance_change(customer) == Decimal("0.00"), (
            "withdrawn (+250 owed) then written off (-250): the customer owes nothing"
        )
        assert world.balance("Stripe Clearing") == money.balance() == Decimal("0.00")
        assert world.balance("Checking") == money.payout_amount(payout)

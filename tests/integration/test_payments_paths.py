"""Each payment path, quickly, through the live gateway, the fake Stripe and the simulated QuickBooks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from activities.audit import POSTED, UNAPPLIED
from tests.payments_support import payments_world

pytestmark = pytest.mark.slow


async def test_full_partial_overpaid_invoiced_and_unmatched_payments_are_each_booked_once(
    temporal_client, database_url
):
    async with payments_world(database_url, temporal_client, duplicates=1.0, shuffle=True) as world:
        books, stripe_side = world.books, world.stripe
        with books.company.lock:
            qb_customer = books.company.add_customer("Harbor Freight Partners").list_id
        cus = stripe_side.customer("Harbor Freight Partners")
        world.link(cus, qb_customer)
        full = books.invoice(qb_customer, Decimal("120.00"))
        partial = books.invoice(qb_customer, Decimal("300.00"))
        over = books.invoice(qb_customer, Decimal("80.00"))
        invoiced = books.invoice(qb_customer, Decimal("45.50"))

        pi_full = stripe_side.pay(cus, 12000, {"qb_txn_id": full})
        pi_partial = stripe_side.pay(cus, 10000, {"qb_txn_id": partial})
        pi_over = stripe_side.pay(cus, 9000, {"qb_txn_id": over})
        _, pi_invoiced = stripe_side.pay_invoice(cus, 4550, {"qb_txn_id": invoiced})
        pi_unmatched = stripe_side.pay(cus, 777)
        await stripe_side.deliver()
        await world.settle([pi_full, pi_partial, pi_over, pi_invoiced, pi_unmatched])

        booked = world.booked()
        payments = books.company.receive_payments
        assert len(payments) == 5, "one ReceivePayment per Stripe payment, whatever the redeliveries"
        assert books.balance(full) == Decimal("0.00")
        assert books.balance(partial) == Decimal("200.00")
        assert books.balance(over) == Decimal("0.00")
        assert books.balance(invoiced) == Decimal("0.00")
        assert payments[booked[pi_over]].unused_payment == Decimal("10.00"), "the overpayment is a credit"
        unapplied = payments[booked[pi_unmatched]]
        assert unapplied.applications == [] and unapplied.total_amount == Decimal("7.77")
        assert {e.action for e in world.audit(POSTED, UNAPPLIED)} == {POSTED, UNAPPLIED}
        assert (payments[booked[pi_full]].ref_number or "").startswith("ch_"), "RefNumber is the charge id"

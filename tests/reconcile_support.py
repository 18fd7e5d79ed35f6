"""A small month at Stripe (the fake server) and what the ledger workflow would have recorded for it.

``StripeMonth.make`` plays three card payments, a partial refund, and an automatic payout that is paid,
through the real SDK and the fake's ``/_fake/`` controls. ``record_books`` writes the charge links and
``ledger_posting`` rows exactly as the payment and ledger workflows do, with the amounts QuickBooks would
have answered, so a test can then spoil one amount or leave one posting out.

Expected amounts are derived from Stripe's own numbers here (gross payment in, fee out, refund out,
payout out of the clearing account), not from the planner under test.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import stripe
from sqlalchemy import Engine

from ml_connector.fakestripe import FakeStripeServer
from ml_connector.ledger.io import store
from ml_connector.storage.models import ChargeLink, LedgerPosting

API_KEY = "sk_test_mlcreconcile"
DAY = 86400
CLEARING = "Stripe Clearing"
BANK = "Checking"


def cents(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Expected:
    """One posting as the workflow records it: its key, the QuickBooks transaction and its clearing effect."""

    key: str
    kind: str
    source_id: str
    balance_txn_id: str
    txn_date: date
    qb_txn_id: str
    qb_txn_type: str
    amount: Decimal


@dataclass
class StripeMonth:
    server: FakeStripeServer
    client: stripe.StripeClient
    charges: list[stripe.Charge] = field(default_factory=list)
    refund_id: str = ""
    payout_id: str = ""
    payout_amount: int = 0

    @classmethod
    def make(cls, server: FakeStripeServer) -> StripeMonth:
        server.fake.reset()
        client = stripe.StripeClient(API_KEY, base_addresses={"api": server.url}, max_network_retries=0)
        month = cls(server, client)
        for amount in (10_000, 5_000, 2_000):
            month.charges.append(month.pay(amount))
        month.refund_id = str(client.v1.refunds.create({"charge": month.charges[0].id, "amount": 1_000}).id)
        server.fake.advance_time(3 * DAY)
        month.payout_id, month.payout_amount = month.run_payout(paid=True)
        return month

    def pay(self, amount: int) -> stripe.Charge:
        pi = self.client.v1.payment_intents.create(
            {"amount": amount, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        )
        return self.client.v1.charges.retrieve(str(pi.latest_charge))

    def run_payout(self, *, paid: bool) -> tuple[str, int]:
        started = self.control("/payouts/run")
        if paid:
            self.control(f"/payouts/{started['id']}/status", {"status": "in_transit"})
            self.control(f"/payouts/{started['id']}/status", {"status": "paid"})
        return str(started["id"]), int(started["amount"])

    def control(self, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
        answer = httpx.post(f"{self.server.url}/_fake{path}", json=body or {}, timeout=10)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def balance_txns(self) -> list[stripe.BalanceTransaction]:
        return list(self.client.v1.balance_transactions.list({"limit": 100}).auto_paging_iter())

    def days(self) -> tuple[date, date]:
        """The first and last UTC day on which this month's balance transactions were created."""
        created = [datetime.fromtimestamp(t.created, UTC).date() for t in self.balance_txns()]
        return min(created), max(created)

    def expected(self) -> list[Expected]:
        """Every posting the month needs, fees per charge, with the amounts QuickBooks answers."""
        found: list[Expected] = []
        number = 0

        def add(
            key: str,
            kind: str,
            source: str,
            txn: stripe.BalanceTransaction,
            kind_qb: str,
            amount: int,
            when: date | None = None,
        ) -> None:
            nonlocal number
            number += 1
            day = when or datetime.fromtimestamp(txn.created, UTC).date()
            found.append(
                Expected(key, kind, source, txn.id, day, f"{number:X}-1733000000", kind_qb, cents(amount))
            )

        for txn in self.balance_txns():
            source = str(txn.source)
            if txn.type == "charge":
                add(f"payment:{source}", "payment", source, txn, "ReceivePayment", txn.amount)
                add(f"fee:{txn.id}", "fee", txn.id, txn, "JournalEntry", -txn.fee)
            elif txn.type == "refund":
                add(f"refund:{source}", "refund", source, txn, "ARRefundCreditCard", txn.amount)
            elif txn.type == "payout":
                payout = self.client.v1.payouts.retrieve(source)
                if payout.status == "paid":
                    arrival = datetime.fromtimestamp(payout.arrival_date, UTC).date()
                    add(f"payout:{source}", "payout", source, txn, "Deposit", txn.amount, arrival)
        return found


def record_books(engine: Engine, company_id: str, month: StripeMonth, postings: list[Expected]) -> None:
    """What the payment workflow (charge links) and the ledger workflow (postings) store."""
    for number, charge in enumerate(month.charges, start=1):
        store.record_charge(
            engine,
            ChargeLink(
                company_id=company_id,
                charge_id=charge.id,
                payment_key=str(charge.payment_intent),
                qb_customer_list_id=f"{number:X}0000-1733000000",
                qb_invoice_txn_id=f"{number:X}00-1733000000",
                qb_payment_txn_id="",
                deposit_account=CLEARING,
                amount=str(cents(charge.amount)),
                currency="usd",
            ),
        )
    for posting in postings:
        store.record_posting(
            engine,
            LedgerPosting(
                company_id=company_id,
                posting_key=posting.key,
                kind=posting.kind,
                source_id=posting.source_id,
                balance_txn_ids=posting.balance_txn_id,
                txn_date=posting.txn_date,
                qb_txn_id=posting.qb_txn_id,
                qb_txn_type=posting.qb_txn_type,
                qb_amount=str(posting.amount),
            ),
        )


def spoil(postings: list[Expected], *, wrong: str, missing: str, by: Decimal) -> list[Expected]:
    """The postings with ``wrong`` off by ``by`` (QuickBooks answered another amount) and ``missing`` absent."""
    out: list[Expected] = []
    for posting in postings:
        if posting.key == missing:
            continue
        if posting.key == wrong:
            posting = Expected(**{**posting.__dict__, "amount": posting.amount + by})
        out.append(posting)
    return out


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))

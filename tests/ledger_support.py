"""A live world for clearing-account tests: payments_world's wiring, plus refunds, disputes and payouts.

The company id is unique per test: the ledger workflow's id (``ledger/{company}``) is fixed per company and
the Temporal dev server is shared by the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import stripe
from sqlmodel import Session, col, select
from temporalio.client import Client

from activities.audit import FOUND, POSTED, UNAPPLIED
from ml_connector.fakestripe import FakeStripeServer
from ml_connector.simulator.webconnector import WebConnector
from ml_connector.storage.models import AuditEntry, CustomerLink, LedgerPosting
from tests.conftest import free_port
from tests.harness import LiveSystem, live_system
from tests.payments_support import API_KEY, PAYMENT_EVENTS, Books, StripeSide

LEDGER_EVENTS = [
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
    "payout.paid",
    "payout.failed",
]
DAY = 86_400
CLEARING = {
    "MLC_CLEARING_ACCOUNT": "Stripe Clearing",
    "MLC_BANK_ACCOUNT": "Checking",
    "MLC_STRIPE_FEES_ACCOUNT": "Merchant Fees",
}


@dataclass
class Money:
    """Stripe-side helpers for what happens after a payment."""

    side: StripeSide

    @property
    def url(self) -> str:
        return self.side.server.url

    def _control(self, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}/_fake{path}", json=body or {}, timeout=30)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def charge_of(self, payment_intent: str) -> str:
        return str(self.side.client.v1.payment_intents.retrieve(payment_intent).latest_charge)

    def refund(self, charge: str, cents: int | None = None) -> str:
        params: dict[str, Any] = {"charge": charge}
        if cents is not None:
            params["amount"] = cents
        return str(self.side.client.v1.refunds.create(params).id)  # type: ignore[arg-type]

    def dispute(self, charge: str) -> str:
        return str(self._control("/disputes", {"charge": charge})["id"])

    def close_dispute(self, dispute: str, outcome: str) -> None:
        self._control(f"/disputes/{dispute}/close", {"outcome": outcome})

    def advance_days(self, days: float) -> None:
        self._control("/clock/advance", {"seconds": days * DAY})

    def payout(self) -> str:
        return str(self._control("/payouts/run")["id"])

    def payout_status(self, payout: str, status: str) -> None:
        self._control(f"/payouts/{payout}/status", {"status": status})

    def payout_amount(self, payout: str) -> Decimal:
        return Decimal(self.side.client.v1.payouts.retrieve(payout).amount) / 100

    def balance(self) -> Decimal:
        """Stripe's balance, available + pending, in dollars."""
        balance = self.side.client.v1.balance.retrieve()
        cents = sum(b.amount for b in balance.available) + sum(b.amount for b in balance.pending)
        return Decimal(cents) / 100


@dataclass
class LedgerWorld:
    system: LiveSystem
    stripe: StripeSide
    money: Money
    books: Books
    company_id: str

    def link(self, stripe_customer: str, list_id: str) -> None:
        with Session(self.system.engine) as db:
            db.add(
                CustomerLink(
                    company_id=self.company_id, qb_list_id=list_id, stripe_customer_id=stripe_customer,
                    written_back=True,
                )
            )
            db.commit()

    def postings(self) -> dict[str, LedgerPosting]:
        with Session(self.system.engine) as db:
            rows = db.exec(select(LedgerPosting).where(LedgerPosting.company_id == self.company_id)).all()
            return {row.posting_key: row for row in rows}

    def audit(self, *actions: str) -> list[AuditEntry]:
        with Session(self.system.engine) as db:
            query = select(AuditEntry).where(AuditEntry.company_id == self.company_id).order_by(col(AuditEntry.id))
            if actions:
                query = query.where(col(AuditEntry.action).in_(actions))
            return list(db.exec(query).all())

    def booked(self) -> set[str]:
        return {e.stripe_object_id for e in self.audit(POSTED, UNAPPLIED, FOUND)}

    def balance(self, account: str) -> Decimal:
        return self.system.processor.ledger.account_balance(account)

    async def drive(
        self, done: Callable[[], bool], what: str, *, timeout: float = 180.0, wc: WebConnector | None = None
    ) -> None:
        """Play Web Connector sessions until ``done()`` (checked between sessions) or fail naming ``what``."""
        wc = wc or self.system.web_connector()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await asyncio.to_thread(done):
            if loop.time() > deadline:
                recent = [f"{e.action} {e.outcome} {e.stripe_object_id} {e.error}" for e in self.audit()[-8:]]
                raise AssertionError(f"timed out waiting for {what}; last audit entries: {recent}")
            await asyncio.to_thread(wc.run_session)
            await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def ledger_world(
    database_url: str,
    client: Client,
    books: Books | None = None,
    *,
    duplicates: float = 0.0,
    shuffle: bool = False,
    **overrides: str,
) -> AsyncIterator[LedgerWorld]:
    books = books or Books.fresh()
    company_id = f"led-{uuid.uuid4().hex[:8]}"
    with FakeStripeServer(api_keys={API_KEY}) as server:
        server.fake.configure_webhooks(duplicates=duplicates, shuffle=shuffle, seed=11)
        sdk = stripe.StripeClient(API_KEY, base_addresses={"api": server.url}, max_network_retries=0)
        port = free_port()
        params: dict[str, Any] = {
            "url": f"http://127.0.0.1:{port}/stripe/webhook",
            "enabled_events": [*PAYMENT_EVENTS, *LEDGER_EVENTS],
        }
        endpoint = sdk.v1.webhook_endpoints.create(params)  # type: ignore[arg-type]
        assert endpoint.secret is not None
        env = {
            "MLC_PORT": str(port),
            "MLC_COMPANY_ID": company_id,
            "MLC_STRIPE_API_KEY": API_KEY,
            "MLC_STRIPE_API_BASE": server.url,
            "MLC_STRIPE_WEBHOOK_SECRET": endpoint.secret,
            **CLEARING,
            **overrides,
        }
        async with live_system(database_url, client, company=books.company, **env) as system:  # type: ignore[arg-type]
            side = StripeSide(sdk, server)
            side.hold_webhooks()
            yield LedgerWorld(system, side, Money(side), books, company_id)

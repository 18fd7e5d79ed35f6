"""A live world for payment tests: the fake Stripe server, the live gateway and worker, a QuickBooks company.

``payments_world`` wires them together the way production is wired: Stripe delivers signed webhooks to the
gateway's ``/stripe/webhook`` over HTTP, the worker fetches from the fake Stripe API with the real SDK, and the
simulated Web Connector carries qbXML to the simulated QuickBooks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import stripe
from sqlmodel import Session, col, select
from temporalio.client import Client

from activities.audit import FOUND, POSTED, UNAPPLIED
from ml_connector.fakestripe import FakeStripeServer
from ml_connector.simulator.company import CompanyFile, NewInvoiceLine
from ml_connector.simulator.seed import ChartIds, seed_chart_of_accounts
from ml_connector.simulator.webconnector import WebConnector
from ml_connector.storage.models import AuditEntry, CustomerLink
from tests.conftest import free_port
from tests.harness import LiveSystem, live_system

API_KEY = "sk_test_mlcpayments"
PAYMENT_EVENTS = [
    "payment_intent.succeeded",
    "charge.succeeded",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice_payment.paid",
]


@dataclass
class Books:
    """The QuickBooks side: a chart of accounts, and customers already linked to Stripe customers."""

    company: CompanyFile
    chart: ChartIds
    links: dict[str, str] = field(default_factory=dict)  # Stripe customer id -> QuickBooks ListID

    @classmethod
    def fresh(cls) -> Books:
        company = CompanyFile()
        return cls(company, seed_chart_of_accounts(company))

    def invoice(self, list_id: str, amount: Decimal) -> str:
        with self.company.lock:
            return self.company.add_invoice(
                list_id, [NewInvoiceLine(item_id=self.chart.items[0], amount=amount)]
            ).txn_id

    def balance(self, txn_id: str) -> Decimal:
        return self.company.invoices[txn_id].balance_remaining


@dataclass
class StripeSide:
    client: stripe.StripeClient
    server: FakeStripeServer

    def customer(self, name: str) -> str:
        return str(self.client.v1.customers.create({"name": name, "email": "ap@example.com"}).id)

    def pay(self, customer: str, cents: int, metadata: dict[str, str] | None = None) -> str:
        """A one-off card payment (PaymentIntent confirmed at once)."""
        pi = self.client.v1.payment_intents.create(
            {
                "amount": cents,
                "currency": "usd",
                "customer": customer,
                "payment_method": "pm_card_visa",
                "confirm": True,
                "metadata": metadata or {},
            }
        )
        return str(pi.id)

    def pay_invoice(self, customer: str, cents: int, metadata: dict[str, str]) -> tuple[str, str]:
        """A Stripe invoice (carrying ``qb_txn_id``) paid by card: (invoice id, PaymentIntent id)."""
        invoice = self.client.v1.invoices.create(
            {"customer": customer, "metadata": metadata, "collection_method": "charge_automatically"}
        )
        assert invoice.id is not None
        self.client.v1.invoice_items.create(
            {"customer": customer, "invoice": invoice.id, "amount": cents, "currency": "usd"}
        )
        self.client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"})
        listed = self.client.v1.invoice_payments.list({"invoice": invoice.id})
        payment = listed.data[0].payment
        assert payment.payment_intent is not None
        pi = payment.payment_intent if isinstance(payment.payment_intent, str) else payment.payment_intent.id
        return invoice.id, pi

    def hold_webhooks(self) -> None:
        """Keep deliveries back while the test (on the gateway's event loop) makes blocking SDK calls."""
        self.server.fake.webhooks.pause()

    async def deliver(self, timeout: float = 60.0) -> None:
        """Release the webhooks and wait, off the event loop (the gateway answering them runs on it)."""
        self.server.fake.webhooks.resume()
        await asyncio.to_thread(self.server.fake.webhooks.flush, timeout)


@dataclass
class World:
    system: LiveSystem
    stripe: StripeSide
    books: Books

    def link(self, stripe_customer: str, list_id: str) -> None:
        self.books.links[stripe_customer] = list_id
        with Session(self.system.engine) as db:
            db.add(
                CustomerLink(
                    company_id="acme",
                    qb_list_id=list_id,
                    stripe_customer_id=stripe_customer,
                    written_back=True,
                )
            )
            db.commit()

    def audit(self, *actions: str) -> list[AuditEntry]:
        with Session(self.system.engine) as db:
            query = select(AuditEntry).order_by(col(AuditEntry.id))
            if actions:
                query = query.where(col(AuditEntry.action).in_(actions))
            return list(db.exec(query).all())

    def booked(self) -> dict[str, str]:
        """Stripe payment id -> QuickBooks TxnID, from the audit trail."""
        return {e.stripe_object_id: e.qb_txn_id for e in self.audit(POSTED, UNAPPLIED, FOUND)}

    async def settle(
        self,
        expected: Iterable[str],
        *,
        wc: WebConnector | None = None,
        timeout: float = 120.0,
        between: Callable[[], Any] | None = None,
    ) -> None:
        """Play Web Connector sessions until every expected payment is booked (or the timeout)."""
        wanted = set(expected)
        wc = wc or self.system.web_connector()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            done = set(self.booked())
            if wanted <= done:
                return
            if asyncio.get_running_loop().time() > deadline:
                missing = sorted(wanted - done)
                raise AssertionError(f"{len(missing)} payments not booked, e.g. {missing[:5]}")
            await asyncio.to_thread(wc.run_session)
            if between is not None:
                between()
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def payments_world(
    database_url: str,
    client: Client,
    books: Books | None = None,
    *,
    duplicates: float = 0.0,
    shuffle: bool = False,
    **overrides: str,
) -> AsyncIterator[World]:
    books = books or Books.fresh()
    with FakeStripeServer(api_keys={API_KEY}) as server:
        server.fake.configure_webhooks(duplicates=duplicates, shuffle=shuffle, seed=7)
        sdk = stripe.StripeClient(API_KEY, base_addresses={"api": server.url}, max_network_retries=0)
        port = free_port()
        endpoint = sdk.v1.webhook_endpoints.create(
            {"url": f"http://127.0.0.1:{port}/stripe/webhook", "enabled_events": PAYMENT_EVENTS}  # type: ignore[typeddict-item]
        )
        secret = endpoint.secret
        assert secret is not None
        env = {
            "MLC_PORT": str(port),
            "MLC_STRIPE_API_KEY": API_KEY,
            "MLC_STRIPE_API_BASE": server.url,
            "MLC_STRIPE_WEBHOOK_SECRET": secret,
            **overrides,
        }
        async with live_system(database_url, client, company=books.company, **env) as system:  # type: ignore[arg-type]
            side = StripeSide(sdk, server)
            side.hold_webhooks()
            yield World(system, side, books)

"""The compose topology as processes: several gateways and workers on one PostgreSQL and one Temporal server.

Each gateway and worker is a real `ml-connector gateway` / `ml-connector worker` process with the environment
docker-compose.yml gives it (tests/fleet_support.py); Temporal is the session's dev server; QuickBooks is the
simulator behind the simulated Web Connector, which visits either gateway; Stripe is the fake server, which
delivers every event to an endpoint per gateway (so each event reaches both, concurrently) and redelivers some.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import stripe
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from activities.audit import FOUND, POSTED, UNAPPLIED
from ml_connector.fakestripe import FakeStripeServer
from ml_connector.qbxml.payments import external_guid_for
from ml_connector.simulator.processor import QuickBooksProcessor
from ml_connector.simulator.webconnector import WebConnector
from ml_connector.storage.engine import current_revision, make_engine
from ml_connector.storage.models import AuditEntry, CustomerLink
from tests.conftest import free_port
from tests.fleet_support import (
    Fleet,
    RecordingStripe,
    busiest_second,
    compose_env,
    procs_of,
    schedule_lateness,
)
from tests.payments_support import PAYMENT_EVENTS, Books

pytestmark = pytest.mark.slow

SETUP_KEY = "sk_test_fleetSetup"  # the test's own Stripe calls (creating customers and payments)
MLC_KEY = "sk_test_fleetConnector"  # every ml-connector process's key: the one whose rate is measured
USERNAME = "fleet-qbwc"
PASSWORD = "fleet horse battery staple"  # noqa: S105 - test credential
RATE_LIMIT = 10.0
MAX_LATENESS_S = 0.5
CUSTOMERS = 10


def dotenv(company: str, **more: str) -> dict[str, str]:
    """What the operator's `.env` holds (compose hands it to every ml-connector service as `env_file`)."""
    return {
        "MLC_QBWC_USERNAME": USERNAME,
        "MLC_QBWC_PASSWORD": PASSWORD,
        "MLC_COMPANY_ID": company,
        "MLC_TASK_QUEUE": f"fleet-{uuid.uuid4().hex[:8]}",
        "MLC_LOG_LEVEL": "WARNING",
        "MLC_WORKER_NICE": "0",
        "MLC_LINGER_SECONDS": "2",
        "MLC_BATCH_HOLD_SECONDS": "1",
        **more,
    }


def temporal_address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def test_gateways_and_two_workers_started_at_the_same_instant_on_an_empty_database_all_come_up(
    temporal_env: WorkflowEnvironment, database_url: str, tmp_path: Path
):
    """No `migrate` first: all of them migrate the empty database at once (under the migration lock), and
    both gateways write the configured company at once (under the company-sync lock)."""
    fleet = Fleet(
        compose_env(
            database_url=database_url,
            temporal_address=temporal_address(temporal_env),
            data_dir=tmp_path / "data",
            public_url="http://127.0.0.1:8000",
            dotenv=dotenv(f"start-{uuid.uuid4().hex[:6]}"),
        ),
        tmp_path,
    )
    instant = time.time() + 4.0  # every interpreter has imported everything by then
    try:
        started = [fleet.start(role, at=instant) for role in ("gateway", "worker", "worker", "gateway")]
        for proc in started:
            await asyncio.to_thread(fleet.wait_ready, proc, 120)
        assert all(proc.alive() for proc in started)
    finally:
        fleet.stop()
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == "0005"
    finally:
        engine.dispose()


def _booked(engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with Session(engine) as db:
        rows = db.exec(
            select(AuditEntry).where(col(AuditEntry.action).in_([POSTED, UNAPPLIED, FOUND]))
        ).all()
    return {row.stripe_object_id: row.qb_txn_id for row in rows}


async def test_two_gateways_and_three_workers_book_each_payment_once_within_the_stripe_rate_limit(
    temporal_env: WorkflowEnvironment, postgres_only_url: str, tmp_path: Path
):
    """PostgreSQL only: it is the database a fleet on several hosts shares (SQLite is one host's)."""
    company = f"fleet-{uuid.uuid4().hex[:6]}"
    books = Books.fresh()
    fake = RecordingStripe(api_keys={SETUP_KEY, MLC_KEY}, watched_key=MLC_KEY)
    with FakeStripeServer(fake) as server:
        fake.configure_webhooks(duplicates=0.5, shuffle=True, seed=11)
        fake.webhooks.pause()
        setup = stripe.StripeClient(SETUP_KEY, base_addresses={"api": server.url}, max_network_retries=0)
        gateway_ports = []
        secrets = []
        fleet = Fleet({}, tmp_path)
        for _ in range(2):  # an endpoint per gateway: every event reaches both gateways
            port = free_port()
            endpoint = setup.v1.webhook_endpoints.create(
                {"url": f"http://127.0.0.1:{port}/stripe/webhook", "enabled_events": PAYMENT_EVENTS}  # type: ignore[typeddict-item]
            )
            assert endpoint.secret is not None
            gateway_ports.append(port)
            secrets.append(endpoint.secret)
        fleet.base_env = compose_env(
            database_url=postgres_only_url,
            temporal_address=temporal_address(temporal_env),
            data_dir=tmp_path / "data",
            public_url=f"http://127.0.0.1:{gateway_ports[0]}",
            dotenv=dotenv(
                company,
                MLC_STRIPE_API_KEY=MLC_KEY,
                MLC_STRIPE_API_BASE=server.url,
                MLC_STRIPE_WEBHOOK_SECRET=",".join(secrets),
                MLC_STRIPE_RATE_LIMIT=str(RATE_LIMIT),
            ),
        )
        try:
            migrated = fleet.run_once("migrate")
            assert migrated.returncode == 0, migrated.stderr
            gateways = [fleet.start("gateway", env={"MLC_PORT": str(port)}) for port in gateway_ports]
            for proc, port in zip(gateways, gateway_ports, strict=True):
                proc.port = port
            workers = [fleet.start("worker") for _ in range(3)]
            for proc in [*gateways, *workers]:
                await asyncio.to_thread(fleet.wait_ready, proc)

            engine = make_engine(postgres_only_url)
            payments, expected_balance = _payments(books, setup, engine, company)
            fake.arrivals.clear()  # from here on, only ml-connector's own requests count
            fake.webhooks.resume()
            assert await asyncio.to_thread(fake.webhooks.flush, 180)
            attempts = fake.webhooks.attempts()
            assert {a.url for a in attempts} == {f"http://127.0.0.1:{p}/stripe/webhook" for p in gateway_ports}
            assert all(a.succeeded for a in attempts), [a for a in attempts if not a.succeeded][:3]

            processor = QuickBooksProcessor(books.company)
            connectors = [
                WebConnector(f"http://127.0.0.1:{port}/qbwc", USERNAME, PASSWORD, processor, noop_wait_seconds=0.2)
                for port in gateway_ports
            ]
            # A document of ReceivePaymentAdds runs in QuickBooks and its answer never comes back (QBWC dies).
            connectors[0].faults.lose_write_documents = 1
            sessions = 0
            while connectors[0].faults.lose_write_documents and sessions < 10:
                lost = await asyncio.to_thread(connectors[0].run_session)
                sessions += 1
            assert lost.outcome == "died", "a response was lost mid-batch"
            fleet.kill(workers[0])  # one worker dies mid-flight

            deadline = time.monotonic() + 420
            turn = 1
            while set(payments) - set(await asyncio.to_thread(_booked, engine)):
                assert time.monotonic() < deadline, "payments not booked in time"
                for proc in [*gateways, *workers[1:]]:
                    assert proc.alive(), f"{proc.role} died:\n{proc.output()}"
                await asyncio.to_thread(connectors[turn % 2].run_session)  # either gateway, in turn
                turn += 1
                await asyncio.sleep(0.2)
            arrivals = fake.watched_arrivals()
            booked = await asyncio.to_thread(_booked, engine)
            engine.dispose()
        finally:
            fleet.stop()

    # One ReceivePayment per Stripe payment, balances right.
    guids = Counter(p.external_guid for p in books.company.receive_payments.values())
    assert len(books.company.receive_payments) == len(payments)
    assert all(guids[external_guid_for(pi)] == 1 for pi in payments), "exactly one per Stripe payment"
    for txn, balance in expected_balance.items():
        assert books.company.invoices[txn].balance_remaining == balance, f"invoice {txn} balance"
    assert set(booked) == set(payments)
    # The account's limit held across five processes, measured at the Stripe server.
    assert len(arrivals) > 2 * len(payments), "the workers did call Stripe"
    # An evenly spaced schedule at the limit, each request reaching the server at most MAX_LATENESS_S late
    # (this two-core machine is shared: a process waits for a core now and then); over the limit, the
    # lateness needed would grow with the run (it lasts minutes).
    lateness = schedule_lateness(arrivals, RATE_LIMIT)
    assert lateness <= MAX_LATENESS_S, f"{lateness:.3f}s; busiest second {busiest_second(arrivals)} requests"
    assert len(list(procs_of(fleet, "worker"))) == 3 and len(list(procs_of(fleet, "gateway"))) == 2


def _payments(books: Books, setup: stripe.StripeClient, engine, company: str):  # type: ignore[no-untyped-def]
    """Linked customers, invoices, and Stripe payments on them: in full (some through a Stripe invoice),
    in two parts, and unmatched. Returns the payment ids and the balance each invoice must end with."""
    stripe_customers: list[str] = []
    qb_customers: list[str] = []
    with Session(engine) as db:
        for i in range(CUSTOMERS):
            with books.company.lock:
                qb_customers.append(books.company.add_customer(f"Fleet Customer {i:02d}").list_id)
            cus = str(setup.v1.customers.create({"name": f"Fleet Customer {i:02d}"}).id)
            stripe_customers.append(cus)
            db.add(CustomerLink(company_id=company, qb_list_id=qb_customers[i], stripe_customer_id=cus,
                                written_back=True))
        db.commit()
    payments: list[str] = []
    expected_balance: dict[str, Decimal] = {}
    for n in range(20):
        who = n % CUSTOMERS
        amount = Decimal(200 + 11 * n) + Decimal(n) / 100
        txn = books.invoice(qb_customers[who], amount)
        cents = int(amount * 100)
        if n < 14:  # in full; every fourth through a Stripe invoice carrying qb_txn_id
            if n % 4 == 0:
                invoice = setup.v1.invoices.create(
                    {"customer": stripe_customers[who], "metadata": {"qb_txn_id": txn},
                     "collection_method": "charge_automatically"}
                )
                assert invoice.id is not None
                setup.v1.invoice_items.create(
                    {"customer": stripe_customers[who], "invoice": invoice.id, "amount": cents, "currency": "usd"}
                )
                setup.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"})
                payment = setup.v1.invoice_payments.list({"invoice": invoice.id}).data[0].payment
                pi = payment.payment_intent
                assert pi is not None
                payments.append(pi if isinstance(pi, str) else str(pi.id))
            else:
                payments.append(_pay(setup, stripe_customers[who], cents, {"qb_txn_id": txn}))
        else:  # in two parts, the first by RefNumber
            first = cents * 4 // 10
            ref = books.company.invoices[txn].ref_number
            assert ref is not None
            payments.append(_pay(setup, stripe_customers[who], first, {"qb_invoice_ref": ref}))
            payments.append(_pay(setup, stripe_customers[who], cents - first, {"qb_txn_id": txn}))
        expected_balance[txn] = Decimal("0.00")
    for k in range(4):  # unmatched: no invoice named, none with that balance
        payments.append(_pay(setup, stripe_customers[k], 999 + k, {}))
    return payments, expected_balance


def _pay(setup: stripe.StripeClient, customer: str, cents: int, metadata: dict[str, str]) -> str:
    pi = setup.v1.payment_intents.create(
        {"amount": cents, "currency": "usd", "customer": customer, "payment_method": "pm_card_visa",
         "confirm": True, "metadata": metadata}
    )
    return str(pi.id)

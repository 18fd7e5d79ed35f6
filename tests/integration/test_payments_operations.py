"""What an operator does with payments: backfill, replay a failed one, release a held one, read the audit.

The commands run the way a person runs them: ``ml-connector …`` and the real ``temporal`` CLI as
subprocesses, pointed at the test database, the test Temporal dev server and the fake Stripe.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
from sqlmodel import Session, select
from temporalio.client import Client

from activities.audit import POST_FAILED, POSTED
from ml_connector.payments.model import RETRY_SIGNAL
from ml_connector.qbxml.payments import external_guid_for
from ml_connector.storage.models import CustomerLink
from ml_connector.temporal import temporal_binary
from tests.harness import PASSWORD, USERNAME
from tests.payments_support import API_KEY, World, payments_world

pytestmark = pytest.mark.slow

CLI_TIMEOUT = 60.0


def _cli_env(world: World, client: Client) -> dict[str, str]:
    settings = world.system.settings
    return {
        **os.environ,
        "MLC_DATABASE_URL": settings.database_url,
        "MLC_QBWC_USERNAME": USERNAME,
        "MLC_QBWC_PASSWORD": PASSWORD,
        "MLC_COMPANY_ID": "acme",
        "MLC_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "MLC_TASK_QUEUE": settings.task_queue,
        "MLC_STRIPE_API_KEY": API_KEY,
        "MLC_STRIPE_API_BASE": world.stripe.server.url,
        "MLC_LOG_LEVEL": "warning",
    }


async def _run(env: dict[str, str], *argv: str) -> str:
    """Run a command to completion; its stdout. A non-zero exit fails the test with its stderr."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    assert proc.returncode == 0, f"{argv[:3]} exited {proc.returncode}: {err.decode()[-2000:]}"
    return out.decode()


async def ml_connector(world: World, client: Client, *args: str) -> str:
    return await _run(_cli_env(world, client), sys.executable, "-m", "ml_connector.cli", *args)


async def _audit_json(world: World, client: Client, *args: str) -> list[dict[str, object]]:
    rows = json.loads(await ml_connector(world, client, "audit", "--json", *args))
    assert isinstance(rows, list)
    return rows


async def _until(predicate: Callable[[], bool], world: World, timeout: float = 60.0) -> None:
    """Play Web Connector sessions until ``predicate()`` holds."""
    wc = world.system.web_connector()
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting for the payment"
        await asyncio.to_thread(wc.run_session)
        await asyncio.sleep(0.2)


async def _payment_status(client: Client, pi: str, wanted: str, timeout: float = 20.0) -> None:
    query = f'StripePaymentId = "{pi}" AND PaymentStatus = "{wanted}"'
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [w async for w in client.list_workflows(query)]
        if found:
            return
        assert asyncio.get_running_loop().time() < deadline, (
            f"no workflow of {pi} with PaymentStatus {wanted}"
        )
        await asyncio.sleep(0.3)


def _guid_counts(world: World) -> Counter[str | None]:
    with world.books.company.lock:
        return Counter(p.external_guid for p in world.books.company.receive_payments.values())


async def test_backfill_posts_payments_whose_webhooks_never_came_and_nothing_twice(
    temporal_client, database_url
):
    async with payments_world(database_url, temporal_client) as world:
        books, side = world.books, world.stripe
        with books.company.lock:
            qb_customer = books.company.add_customer("Lakeside Dental").list_id
        cus = side.customer("Lakeside Dental")
        world.link(cus, qb_customer)
        invoice = books.invoice(qb_customer, Decimal("250.00"))
        on_invoice = side.pay(cus, 25000, {"qb_txn_id": invoice})
        unmatched = side.pay(cus, 1999)
        payments = [on_invoice, unmatched]  # their webhooks stay held back: lost, as far as we know

        today = datetime.now(UTC).date()
        out = await ml_connector(world, temporal_client, "backfill", "payments", "--since", today.isoformat())
        assert f"backfill/all/{today.isoformat()}" in out
        await world.settle(payments)
        assert books.balance(invoice) == Decimal("0.00")

        # The documented Temporal CLI command, over the same period, then the late webhooks: no new postings.
        since = int(datetime.combine(today, time.min, tzinfo=UTC).timestamp())
        await _run(
            _cli_env(world, temporal_client),
            str(temporal_binary()),
            "workflow", "start",
            "--address", temporal_client.service_client.config.target_host,
            "--type", "PaymentBackfillWorkflow",
            "--task-queue", world.system.task_queue,
            "--workflow-id", "backfill/all/again",
            "--input", json.dumps({"since": since}),
        )  # fmt: skip
        routed = await temporal_client.get_workflow_handle("backfill/all/again").result()
        assert routed == 2, "the second backfill saw both payments again"
        await side.deliver()
        await world.system.run_sessions(world.system.web_connector(), max_sessions=3)
        for pi in payments:
            await temporal_client.get_workflow_handle(f"payment/acme/{pi}").result()

        guids = _guid_counts(world)
        assert len(books.company.receive_payments) == 2
        assert all(guids[external_guid_for(pi)] == 1 for pi in payments), "each payment posted exactly once"
        assert {e.stripe_object_id for e in world.audit(POSTED)} == {on_invoice}


async def test_a_missing_deposit_account_is_created_and_the_payment_posted_once_with_the_refusal_audited(
    temporal_client, database_url
):
    async with payments_world(database_url, temporal_client, MLC_DEPOSIT_ACCOUNT="Stripe Payouts") as world:
        books, side = world.books, world.stripe
        with books.company.lock:
            qb_customer = books.company.add_customer("Orchard Supply").list_id
        cus = side.customer("Orchard Supply")
        world.link(cus, qb_customer)
        invoice = books.invoice(qb_customer, Decimal("75.25"))
        pi = side.pay(cus, 7525, {"qb_txn_id": invoice})
        await side.deliver()
        await world.settle([pi])

        refused = await _audit_json(world, temporal_client, "--failed", "--payment", pi)
        assert refused, "QuickBooks' refusal stays in the audit trail"
        row = refused[0]
        assert set(row) == {
            "id", "at", "company_id", "action", "outcome", "stripe_event_id", "stripe_object_id",
            "stripe_customer_id", "qb_list_id", "qb_txn_id", "amount", "currency", "workflow_id",
            "error", "detail",
        }  # fmt: skip
        assert row["action"] == POST_FAILED and "3140" in str(row["error"]), "QuickBooks' own message"
        assert row["stripe_object_id"] == pi and row["workflow_id"] == f"payment/acme/{pi}"
        assert datetime.fromisoformat(str(row["at"])).tzinfo is not None
        created = books.company.find_account(full_name="Stripe Payouts")
        assert created is not None and created.account_type == "OtherCurrentAsset"

        await ml_connector(world, temporal_client, "replay", pi)  # a replay finds it booked
        await temporal_client.get_workflow_handle(f"payment/acme/{pi}").result()
        assert len(books.company.receive_payments) == 1
        assert books.balance(invoice) == Decimal("0.00")
        posted = await _audit_json(world, temporal_client, "--payment", pi)
        assert [r["action"] for r in posted].count(POSTED) == 1
        assert {r["currency"] for r in posted if r["action"] == POSTED} == {"usd"}
        await _payment_status(temporal_client, pi, "posted")


async def test_hold_policy_keeps_an_unmatched_payment_waiting_until_a_retry_finds_its_invoice(
    temporal_client, database_url
):
    async with payments_world(database_url, temporal_client, MLC_UNMATCHED_POLICY="hold") as world:
        books, side = world.books, world.stripe
        with books.company.lock:
            qb_customer = books.company.add_customer("Birch & Co").list_id
        cus = side.customer("Birch & Co")
        world.link(cus, qb_customer)
        pi = side.pay(cus, 4200)  # no invoice named, and none open for 42.00
        await side.deliver()
        await _until(lambda: bool(world.audit("payment.held")), world)
        await _payment_status(temporal_client, pi, "held")
        held = await _audit_json(world, temporal_client, "--failed")
        assert [(r["action"], r["stripe_object_id"]) for r in held] == [("payment.held", pi)]
        assert "policy hold" in str(held[0]["error"])
        assert books.company.receive_payments == {}, "a held payment is not posted as a credit"

        invoice = books.invoice(qb_customer, Decimal("42.00"))  # the bookkeeper enters the invoice
        await temporal_client.get_workflow_handle(f"payment/acme/{pi}").signal(RETRY_SIGNAL)
        await world.settle([pi])

        assert len(books.company.receive_payments) == 1
        assert books.balance(invoice) == Decimal("0.00"), "applied to the invoice found on retry"
        await _payment_status(temporal_client, pi, "posted")


async def test_a_payment_from_an_unlinked_stripe_customer_creates_and_links_the_quickbooks_customer(
    temporal_client, database_url
):
    async with payments_world(database_url, temporal_client) as world:
        books, side = world.books, world.stripe
        cus = side.customer("Northwind Traders")
        pi = side.pay(cus, 1500)
        await side.deliver()
        await world.settle([pi])

        with Session(world.system.engine) as db:
            links = db.exec(select(CustomerLink).where(CustomerLink.stripe_customer_id == cus)).all()
        assert len(links) == 1, "linked in our database"
        list_id = links[0].qb_list_id
        created = books.company.customers[list_id]
        assert created.name == "Northwind Traders"
        metadata = side.client.v1.customers.retrieve(cus).metadata
        assert metadata is not None and metadata["qb_list_id"] == list_id, "linked in Stripe"
        (payment,) = books.company.receive_payments.values()
        assert payment.customer_id == list_id and payment.total_amount == Decimal("15.00")
        assert [e.qb_list_id for e in world.audit("customer.created")] == [list_id]

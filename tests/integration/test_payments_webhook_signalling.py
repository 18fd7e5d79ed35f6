"""Stripe's webhook is answered as soon as the event is stored, whether or not Temporal is reachable.

The gateway's Temporal client is made to fail every signal-with-start (as when Temporal is down); Stripe
still gets its 200, nothing is started, and once Temporal answers again the gateway's sweeper hands the stored
events to their workflows and the payment is booked once.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from ml_connector.storage.models import StripeEvent
from ml_connector.stripe.webhooks import sign_payload
from tests.payments_support import PAYMENT_EVENTS, payments_world

pytestmark = pytest.mark.slow


class TemporalDown(Exception):
    pass


class SwitchableClient:
    """The real client, except that signal-with-start fails while ``down`` is set."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.down = True

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise TemporalDown("connection refused")
        return await self._client.start_workflow(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _unsignalled(engine: Any) -> list[str]:
    with Session(engine) as db:
        return [e.id for e in db.exec(select(StripeEvent)).all() if e.signalled_at is None]


async def _workflow_exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return True


async def test_with_temporal_unreachable_webhooks_get_200_and_the_sweeper_starts_the_payment_later(
    temporal_client, database_url
):
    async with payments_world(database_url, temporal_client) as world:
        system, books, side = world.system, world.books, world.stripe
        switch = SwitchableClient(temporal_client)
        await system.stop_gateway()
        system.gateway_client = switch  # type: ignore[assignment]
        system.sweep_interval = 0.3
        await system.start_gateway()

        with books.company.lock:
            qb_customer = books.company.add_customer("Lakeside Dental").list_id
        cus = side.customer("Lakeside Dental")
        world.link(cus, qb_customer)
        invoice = books.invoice(qb_customer, Decimal("215.40"))
        pi = side.pay(cus, 21540, {"qb_txn_id": invoice})
        bodies = [
            json.dumps(e.to_dict()).encode()
            for e in side.client.v1.events.list({"limit": 100}).auto_paging_iter()
            if e.type in PAYMENT_EVENTS
        ]
        secret = system.settings.stripe.webhook_secrets[0]
        url = f"http://127.0.0.1:{system.settings.port}/stripe/webhook"
        async with httpx.AsyncClient(timeout=10) as http:
            answers = [
                await http.post(
                    url,
                    content=body,
                    headers={"Stripe-Signature": sign_payload(body, secret, int(time.time()))},
                )
                for body in bodies
            ]
        assert [a.status_code for a in answers] == [200] * len(bodies)
        workflow_id = answers[0].json()["workflow_id"]
        for _ in range(50):  # on SQLite the events reach stripe_event from the gateway's inbox just after the ack
            if len(_unsignalled(system.engine)) == len(bodies):
                break
            await asyncio.sleep(0.1)
        assert len(_unsignalled(system.engine)) == len(bodies), "stored, acknowledged, not yet signalled"
        assert not await _workflow_exists(temporal_client, workflow_id)

        switch.down = False
        for _ in range(200):
            if not _unsignalled(system.engine):
                break
            await asyncio.sleep(0.1)
        assert _unsignalled(system.engine) == []
        assert await _workflow_exists(temporal_client, workflow_id)

        await world.settle([pi])
        assert len(books.company.receive_payments) == 1
        assert books.balance(invoice) == Decimal("0.00")

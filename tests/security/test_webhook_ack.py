"""Issue 13, the SQLite ack tail: a webhook's answer never waits for the main database's write lock.

On the embedded default the webhook's insert used to queue behind the worker's and the Web Connector
endpoint's transactions on SQLite's single write lock (ack p99 445 ms, max 1.15 s). Now the gateway commits the
event to its own inbox file before answering and moves it into ``stripe_event`` afterwards (gateway/inbox.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
from sqlmodel import Session

from gateway.inbox import WebhookInbox, inbox_path
from ml_connector.storage.models import StripeEvent
from ml_connector.stripe.events import route
from tests.harness import live_system
from tests.security.support import WEBHOOK_SECRET, payment_event, signed_webhook


def _inbox_rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT id, undrained FROM inbox").fetchall())


async def _wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _event(engine, event_id: str) -> StripeEvent | None:  # type: ignore[no-untyped-def]
    with Session(engine) as db:
        row = db.get(StripeEvent, event_id)
        if row is not None:
            db.expunge(row)
        return row


def _deliveries(engine, event_id: str) -> int:  # type: ignore[no-untyped-def]
    row = _event(engine, event_id)
    return 0 if row is None else row.deliveries


def _signalled(engine, event_id: str) -> bool:  # type: ignore[no-untyped-def]
    row = _event(engine, event_id)
    return row is not None and row.signalled_at is not None


async def test_a_webhook_is_acknowledged_while_another_process_holds_the_write_lock(
    temporal_client, tmp_path
):
    main = tmp_path / "ack.db"
    async with live_system(
        f"sqlite:///{main}", temporal_client, MLC_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET
    ) as system:
        url = f"http://127.0.0.1:{system.settings.port}/stripe/webhook"
        body, headers = signed_webhook(payment_event("evt_while_locked"))
        blocker = sqlite3.connect(main, timeout=30, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the worker in the middle of a long write transaction
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                first = await http.post(url, content=body, headers=headers)
                again = await http.post(url, content=body, headers=headers)  # Stripe redelivers
            inbox = inbox_path(system.settings.database_url)
            assert inbox is not None
            held = _inbox_rows(inbox)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await _wait_for(
            lambda: _deliveries(system.engine, "evt_while_locked") == 2, "the move, redelivery counted"
        )
        await _wait_for(lambda: _signalled(system.engine, "evt_while_locked"), "the signal")

    assert first.status_code == 200 and again.status_code == 200
    assert held == {"evt_while_locked": 2}, "stored (in the inbox) before the 200, redelivery counted"
    assert oct(inbox.stat().st_mode & 0o777) == "0o600"


async def test_events_left_in_the_inbox_by_a_dead_gateway_are_moved_and_signalled_at_the_next_start(
    temporal_client, tmp_path
):
    async with live_system(
        f"sqlite:///{tmp_path / 'left.db'}", temporal_client, MLC_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET
    ) as system:
        await system.stop_gateway()
        system.sweep_interval = 0.3
        path = inbox_path(system.settings.database_url)
        assert path is not None
        # What a gateway that died right after its 200 leaves behind: the event in the inbox, nowhere else.
        event = payment_event("evt_left_behind")
        body, _ = signed_webhook(event)
        found = route(event)
        assert found is not None
        left = WebhookInbox(path)
        left.accept(found, body, "acme", found.workflow_id("acme"))
        left.close()
        assert _event(system.engine, "evt_left_behind") is None

        await system.start_gateway()
        await _wait_for(lambda: _event(system.engine, "evt_left_behind") is not None, "the move")
        await _wait_for(lambda: _signalled(system.engine, "evt_left_behind"), "the signal")
        assert _inbox_rows(path) == {"evt_left_behind": 0}

"""Handing stored Stripe events to their Temporal workflows, after the webhook has already answered.

The webhook's answer depends only on verification and one durable insert (``stripe_event``); Stripe times
that answer, and Temporal being slow or down must not make Stripe wait or redeliver. So the
signal-with-start of the event's workflow happens here, in two ways that share one code path:

- right after the 2xx is sent, for the event just stored (:meth:`EventSignaller.signal_stored`);
- from a sweeper loop in the gateway's lifespan (:meth:`EventSignaller.run`), which re-signals every event
  whose ``signalled_at`` is still NULL — a signal that failed (Temporal down) or never ran (the gateway
  crashed between the insert and the signal). Nothing is lost: the row is the promise.

``signalled_at`` is set only after Temporal accepted the signal-with-start. A crash between the two re-signals
the event once more, which is harmless: the payment workflow drops event ids it has seen, and the customer
workflow answers any signal by re-fetching the customer (a duplicate costs one idempotent re-read).
The sweeper waits ``grace`` seconds before touching a fresh row, so it does not race the request's own
background signal, and a pass stops at the first failure: with Temporal down, one attempt per pass is enough
to know, and the backlog is kept for the next pass.

Everything needed to signal is re-derived from the stored payload (``route``) and the stored company, so the
sweeper signals exactly what the request would have.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from temporalio.client import Client

from activities.ledger import signal_ledger
from activities.payment_routing import signal_payment
from gateway.stripe_customers import start_customer_workflow
from ml_connector import metrics
from ml_connector.config import Settings
from ml_connector.ledger.signals import LedgerSignal
from ml_connector.payments.model import PaymentInput, PaymentSignal
from ml_connector.storage.models import StripeEvent
from ml_connector.stripe.events import LEDGER_KINDS, EventShapeError, Route, RouteKind, route

log = logging.getLogger(__name__)
SWEEP_BATCH = 200


@dataclass(frozen=True)
class StoredEvent:
    """What signalling needs: the routed event and the company it was stored under."""

    found: Route
    company_id: str


async def signal_event(client: Client, settings: Settings, event: StoredEvent) -> str:
    """Signal-with-start the event's workflow (payment, customer or ledger); returns the workflow id."""
    found = event.found
    if found.kind in LEDGER_KINDS:
        return await signal_ledger(
            client,
            settings.task_queue,
            event.company_id,
            LedgerSignal(found.event_id, found.event_type, found.object_id),
        )
    if found.kind is RouteKind.CUSTOMER:
        return await start_customer_workflow(
            client, settings, found, found.event_id, company_id=event.company_id
        )
    inp = PaymentInput(
        company_id=event.company_id,
        key=found.key,
        key_kind=found.key_kind.value,
        customer_id=found.customer_id,
        invoice_id=found.invoice_id,
    )
    return await signal_payment(
        client, settings.task_queue, inp, PaymentSignal(found.event_id, found.event_type, "webhook")
    )


def mark_signalled(engine: Engine, event_id: str) -> None:
    with Session(engine) as db:
        db.exec(  # type: ignore[call-overload]
            update(StripeEvent)
            .where(col(StripeEvent.id) == event_id, col(StripeEvent.signalled_at).is_(None))
            .values(signalled_at=datetime.now(UTC))
        )
        db.commit()


def unsignalled(engine: Engine, *, older_than: datetime, limit: int = SWEEP_BATCH) -> list[StoredEvent]:
    """Stored events with a workflow whose signal has not gone out, oldest first.

    A row whose payload no longer routes (it routed when it was stored, so only a code change could do this)
    is logged and skipped rather than retried for ever.
    """
    with Session(engine) as db:
        rows = db.exec(
            select(StripeEvent)
            .where(
                col(StripeEvent.signalled_at).is_(None),
                col(StripeEvent.workflow_id) != "",
                col(StripeEvent.received_at) < older_than,
            )
            .order_by(col(StripeEvent.received_at))
            .limit(limit)
        ).all()
        pending = [(row.id, row.company_id, row.payload) for row in rows]
    events: list[StoredEvent] = []
    for event_id, company_id, payload in pending:
        try:
            found = route(json.loads(payload))
        except (EventShapeError, ValueError) as exc:
            log.error("event sweeper: stored event %s no longer routes: %s", event_id, exc)
            continue
        if found is None or found.kind not in (RouteKind.PAYMENT, RouteKind.CUSTOMER, *LEDGER_KINDS):
            log.error("event sweeper: stored event %s routes to no workflow", event_id)
            continue
        events.append(StoredEvent(found, company_id))
    return events


class EventSignaller:
    """Signals stored events: one right after each ack, and the sweeper for whatever did not go out."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        engine: Engine,
        *,
        interval: float = 5.0,
        grace: float | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.engine = engine
        self.interval = interval
        self.grace = timedelta(seconds=interval if grace is None else grace)
        self.signalled = 0
        self.failed = 0

    async def signal_stored(self, event: StoredEvent) -> bool:
        """Signal one stored event and mark it; a failure is counted, logged and left to the sweeper."""
        try:
            workflow_id = await signal_event(self.client, self.settings, event)
        except Exception as exc:  # noqa: BLE001 - any failure to reach Temporal: the sweeper retries
            self.failed += 1
            metrics.WEBHOOK_SIGNAL_FAILURES.inc()
            log.warning(
                "stripe event %s stored and acknowledged; workflow not signalled yet (retried by the sweeper): %s",
                event.found.event_id,
                exc,
                extra={"company": event.company_id, "stripe_event_id": event.found.event_id},
            )
            return False
        await asyncio.to_thread(mark_signalled, self.engine, event.found.event_id)
        self.signalled += 1
        log.debug("stripe event %s signalled to %s", event.found.event_id, workflow_id)
        return True

    async def sweep(self) -> int:
        """One pass over unsignalled events; returns how many were signalled. Stops at the first failure."""
        older_than = datetime.now(UTC) - self.grace
        events = await asyncio.to_thread(unsignalled, self.engine, older_than=older_than)
        done = 0
        for event in events:
            if not await self.signal_stored(event):
                break
            done += 1
        if done:
            log.info("event sweeper: signalled %d stored event(s) that had not reached Temporal", done)
        return done

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                while await self.sweep() >= SWEEP_BATCH:
                    pass
            except Exception:  # noqa: BLE001 - keep sweeping; the rows stay unsignalled
                log.exception("event sweeper: pass failed; retrying shortly")

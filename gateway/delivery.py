"""Completing the activities that wait for QuickBooks' answers.

After receiveResponseXML stores answers, they are delivered here, right away and again by a loop until each
lands: the answer is already safe in the database, so a crash between storing and delivering only delays it.
A stale task token (the activity attempt timed out and a retry took over) is not an error: the retry finds the
stored answer itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbwc_server.requests import Delivery

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(self, client: Client, queue: RequestQueue, *, interval: float = 2.0) -> None:
        self.client = client
        self.queue = queue
        self.interval = interval
        self._kick = asyncio.Event()
        self.delivered = 0

    def kick(self) -> None:
        """Ask the loop to deliver now (safe to call from the event loop thread)."""
        self._kick.set()

    async def deliver(self, ids: Sequence[int] | None = None) -> int:
        deliveries = await asyncio.to_thread(self.queue.undelivered, ids=ids)
        done = 0
        for delivery in deliveries:
            if await self._deliver_one(delivery):
                done += 1
        self.delivered += done
        return done

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), timeout=self.interval)
            except TimeoutError:
                pass
            self._kick.clear()
            try:
                while await self.deliver() > 0:
                    pass
            except Exception:  # noqa: BLE001 - keep delivering; the rows stay marked undelivered
                log.exception("delivery: pass failed; retrying shortly")

    async def _deliver_one(self, delivery: Delivery) -> bool:
        if delivery.task_token is None:
            await asyncio.to_thread(self.queue.mark_delivered, delivery.request_id, None)
            return True
        handle = self.client.get_async_activity_handle(task_token=delivery.task_token)
        try:
            if delivery.result is not None:
                await handle.complete(delivery.result)
            else:
                await handle.fail(
                    ApplicationError(
                        delivery.error_message or delivery.error_kind,
                        type=delivery.error_kind,
                        non_retryable=not delivery.retryable,
                    )
                )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                log.warning("delivery: request %s not delivered yet: %s", delivery.request_id, exc.message)
                await asyncio.to_thread(self.queue.note_delivery_failure, delivery.request_id)
                return False
            log.info(
                "delivery: request %s: activity attempt gone; its retry will pick up the answer",
                delivery.request_id,
            )
        await asyncio.to_thread(self.queue.mark_delivered, delivery.request_id, delivery.task_token)
        return True

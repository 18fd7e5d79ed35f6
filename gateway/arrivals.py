"""What happens when the Web Connector arrives: the company's sync workflow hears about it.

``QbwcService`` calls ``on_arrival(company_id)`` from a worker thread during ``authenticate``. We
signal-with-start ``customer-sync/{company}`` with ``web_connector_arrived`` (so the workflow exists from the
first session on) and answer whether a poll is due or running: if so the session is opened and lingers, so
the poll's queries, queued a moment later, still ride this session instead of waiting for the next one.

Temporal being slow or down must never break the Web Connector: any failure answers False ("nothing
special"), and queued work still opens the session on its own.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from ml_connector.config import Settings
from ml_connector.temporal import COMPANY_ID
from workflows.customer_sync import TASK_TIMEOUT, CustomerSyncInput, CustomerSyncWorkflow, workflow_id

log = logging.getLogger(__name__)


class ArrivalHook:
    """``on_arrival`` for ``QbwcService``: bridges its worker thread to the gateway's event loop."""

    def __init__(
        self, client: Client, settings: Settings, loop: asyncio.AbstractEventLoop, *, timeout_s: float = 5.0
    ) -> None:
        self.client = client
        self.settings = settings
        self.loop = loop
        self.timeout_s = timeout_s

    def __call__(self, company_id: str) -> bool:
        future = asyncio.run_coroutine_threadsafe(self.arrive(company_id), self.loop)
        try:
            return future.result(self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - the session must go on whatever Temporal does
            future.cancel()
            log.warning("web connector arrival for %s not passed to the sync workflow: %s", company_id, exc)
            return False

    async def arrive(self, company_id: str) -> bool:
        handle = await self.client.start_workflow(
            CustomerSyncWorkflow.run,
            CustomerSyncInput(company_id),
            id=workflow_id(company_id),
            task_queue=self.settings.task_queue,
            start_signal="web_connector_arrived",
            task_timeout=TASK_TIMEOUT,
            search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company_id)]),
        )
        status = await handle.query(
            CustomerSyncWorkflow.status, rpc_timeout=timedelta(seconds=max(1.0, self.timeout_s - 1))
        )
        return status.polling or status.due

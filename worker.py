"""The Temporal worker: registers every workflow and activity of ml-connector once.

`ml-connector worker` runs it for real deployments; `ml-connector dev` runs it beside the gateway.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.qb_queue import QbActivities
from ml_connector.config import Settings
from ml_connector.queue import RequestQueue
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.temporal import connect, ensure_search_attributes

log = logging.getLogger(__name__)

# Every product workflow, registered once.
WORKFLOWS: list[type[Any]] = []


def build_activities(settings: Settings, engine: Engine, client: Client) -> list[Any]:
    """The activity objects hold their clients (database, queue, Stripe); one of each per worker process."""
    queue = RequestQueue(engine, max_requests=settings.batch_max_requests, max_bytes=settings.batch_max_bytes)
    qb = QbActivities(queue)
    activities: list[Any] = [qb.qb_run, qb.qb_forget_pages]
    return activities


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    *,
    task_queue: str | None = None,
    extra_workflows: list[type[Any]] | None = None,
    extra_activities: list[Any] | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> Worker:
    """Activities are synchronous (database I/O) and run on a thread pool sized for many waiting requests."""
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[*WORKFLOWS, *(extra_workflows or [])],
        activities=[*build_activities(settings, engine, client), *(extra_activities or [])],
        activity_executor=executor or ThreadPoolExecutor(max_workers=32, thread_name_prefix="mlc-activity"),
        max_concurrent_activities=32,
    )


async def run_worker(settings: Settings, stop: asyncio.Event, *, client: Client | None = None) -> None:
    engine = make_engine(settings.database_url)
    await asyncio.to_thread(migrate, engine)
    client = client or await connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    worker = build_worker(client, settings, engine)
    log.info("worker: polling task queue %s", settings.task_queue)
    async with worker:
        await stop.wait()
    engine.dispose()

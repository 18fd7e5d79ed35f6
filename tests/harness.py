"""A live ml-connector for end-to-end tests: gateway on a free port, a worker, the QuickBooks simulator.

Everything is real except QuickBooks itself: HTTP between the simulated Web Connector and the gateway, the
Temporal dev server, the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from gateway.app import create_app
from gateway.server import server_config
from ml_connector.config import Settings, load_settings
from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor
from ml_connector.simulator.webconnector import WebConnector
from ml_connector.storage.engine import make_engine, migrate
from tests.conftest import free_port
from worker import build_worker

USERNAME = "acme-qbwc"
PASSWORD = "correct horse battery staple"  # noqa: S105 - test credential


def test_settings(database_url: str, **overrides: str) -> Settings:
    port = free_port()
    env = {
        "MLC_DATABASE_URL": database_url,
        "MLC_PORT": str(port),
        "MLC_QBWC_USERNAME": USERNAME,
        "MLC_QBWC_PASSWORD": PASSWORD,
        "MLC_COMPANY_ID": "acme",
        "MLC_LINGER_SECONDS": "1",
        "MLC_BATCH_HOLD_SECONDS": "1",
        "MLC_TEMPORAL_ADDRESS": "embedded-test",
        **overrides,
    }
    return load_settings(env)


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class LiveSystem:
    settings: Settings
    engine: Engine
    client: Client
    company: CompanyFile
    processor: QuickBooksProcessor
    task_queue: str
    workflows: list[type[Any]]
    activities: list[Any] = field(default_factory=list)
    server: uvicorn.Server | None = None
    server_task: asyncio.Task[None] | None = None
    worker: Worker | None = None
    worker_task: asyncio.Task[None] | None = None
    gateway_client: Client | None = None  # the gateway's own Temporal client, when a test breaks it
    sweep_interval: float = 5.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}/qbwc"

    @property
    def queue(self) -> RequestQueue:
        return RequestQueue(self.engine)

    def web_connector(self, **kwargs: Any) -> WebConnector:
        kwargs.setdefault("noop_wait_seconds", 0.2)
        return WebConnector(self.url, USERNAME, PASSWORD, self.processor, **kwargs)

    async def start_gateway(self) -> None:
        app = create_app(
            self.settings,
            client=self.gateway_client or self.client,
            engine=self.engine,
            sweep_interval=self.sweep_interval,
        )
        config = server_config(app, self.settings, host="127.0.0.1", port=self.settings.port)
        self.server = _QuietServer(config)
        self.server_task = asyncio.create_task(self.server.serve())
        for _ in range(200):
            if self.server.started:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("gateway did not start")

    async def stop_gateway(self) -> None:
        if self.server is not None and self.server_task is not None:
            self.server.should_exit = True
            await self.server_task
            self.server = None

    async def start_worker(self) -> None:
        self.worker = build_worker(
            self.client,
            self.settings,
            self.engine,
            task_queue=self.task_queue,
            extra_workflows=self.workflows,
            extra_activities=self.activities,
        )
        self.worker_task = asyncio.create_task(self.worker.run())

    async def stop_worker(self) -> None:
        """Stop the worker as a crash would leave things: in-flight activities are abandoned, not finished."""
        if self.worker is not None and self.worker_task is not None:
            await self.worker.shutdown()
            with contextlib.suppress(Exception):
                await self.worker_task
            self.worker = None

    async def run_sessions(self, wc: WebConnector, *, max_sessions: int = 20) -> list[Any]:
        """Play Web Connector sessions (in a thread: the client is blocking) until there is nothing to do."""
        return await asyncio.to_thread(wc.run_until_idle, max_sessions=max_sessions)


@contextlib.asynccontextmanager
async def live_system(
    database_url: str,
    client: Client,
    *,
    workflows: list[type[Any]] | None = None,
    activities: Callable[[LiveSystem], list[Any]] | None = None,
    company: CompanyFile | None = None,
    **overrides: str,
) -> AsyncIterator[LiveSystem]:
    overrides.setdefault("MLC_TASK_QUEUE", f"tq-{uuid.uuid4().hex[:8]}")  # the gateway starts workflows here
    settings = test_settings(database_url, **overrides)
    engine = make_engine(settings.database_url)
    migrate(engine)
    company = company or CompanyFile()
    system = LiveSystem(
        settings=settings,
        engine=engine,
        client=client,
        company=company,
        processor=QuickBooksProcessor(company),
        task_queue=settings.task_queue,
        workflows=workflows or [],
    )
    if activities is not None:
        system.activities = activities(system)
    await system.start_gateway()
    await system.start_worker()
    try:
        yield system
    finally:
        await system.stop_worker()
        await system.stop_gateway()
        engine.dispose()

"""The FastAPI gateway: terminates the Web Connector's SOAP calls (and, later, Stripe's webhooks).

Thin by design: each route reads the body under a size cap, hands bytes to a sans-IO or service object, and
returns bytes. The Temporal client and the database engine are created once, in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import Engine, text
from temporalio.client import Client

from gateway.arrivals import ArrivalHook
from gateway.body import BodyTooLarge, read_body
from gateway.delivery import Deliverer
from gateway.event_signals import EventSignaller
from gateway.ops import router as ops_router
from gateway.reconcile import router as reconcile_router
from gateway.status import router as status_router
from gateway.stripe_webhook import router as stripe_webhook_router
from ml_connector.companies import sync_companies
from ml_connector.config import Settings
from ml_connector.qbwc.service import QbwcService
from ml_connector.qbwc.wsdl import render_wsdl
from ml_connector.queue import RequestQueue
from ml_connector.runwindows import RunWindowSchedule
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.temporal import connect

log = logging.getLogger(__name__)
SOAP_TYPE = "text/xml; charset=utf-8"


@dataclass
class GatewayState:
    settings: Settings
    engine: Engine
    client: Client
    queue: RequestQueue
    service: QbwcService
    deliverer: Deliverer
    signaller: EventSignaller


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    engine: Engine | None = None,
    sweep_interval: float = 5.0,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = engine or make_engine(settings.database_url)
        await asyncio.to_thread(migrate, db)
        await asyncio.to_thread(sync_companies, db, settings)
        temporal = client or await connect(settings)
        queue = RequestQueue(db, max_requests=settings.batch_max_requests, max_bytes=settings.batch_max_bytes)
        loop = asyncio.get_running_loop()
        deliverer = Deliverer(temporal, queue)

        def on_deliver(_ids: Sequence[int]) -> None:
            loop.call_soon_threadsafe(deliverer.kick)

        service = QbwcService(
            db,
            queue,
            linger_seconds=settings.linger_seconds,
            batch_hold_seconds=settings.batch_hold_seconds,
            batch_fill=settings.batch_max_requests,
            ticket_idle_seconds=settings.ticket_idle_seconds,
            on_deliver=on_deliver,
            # Without Stripe there is nothing to sync customers to: the Web Connector only serves the queue.
            on_arrival=ArrivalHook(temporal, settings, loop) if settings.stripe.configured else None,
            run_windows=RunWindowSchedule.from_companies(settings.companies),
        )
        signaller = EventSignaller(temporal, settings, db, interval=sweep_interval)
        app.state.gw = GatewayState(settings, db, temporal, queue, service, deliverer, signaller)
        tasks = [
            asyncio.create_task(deliverer.run(), name="qb-delivery"),
            asyncio.create_task(signaller.run(), name="stripe-event-sweeper"),
        ]
        deliverer.kick()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if engine is None:
                db.dispose()

    app = FastAPI(title="ml-connector gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(ops_router)
    app.include_router(status_router)
    app.include_router(reconcile_router)
    app.include_router(stripe_webhook_router)

    @app.get("/qbwc")
    async def wsdl(request: Request) -> Response:
        gw: GatewayState = request.app.state.gw
        if "wsdl" not in {k.lower() for k in request.query_params}:
            return PlainTextResponse(
                "This is the ml-connector QuickBooks Web Connector endpoint. Add it to the Web Connector with "
                "the .qwc file (ml-connector qwc); the WSDL is at ?wsdl.\n"
            )
        return Response(render_wsdl(gw.settings.qbwc_url), media_type=SOAP_TYPE)

    @app.post("/qbwc")
    async def qbwc(request: Request) -> Response:
        gw: GatewayState = request.app.state.gw
        try:
            body = await read_body(request, gw.settings.max_body_bytes)
        except BodyTooLarge as exc:
            return PlainTextResponse(str(exc), status_code=413)
        status, payload = await asyncio.to_thread(gw.service.handle, body, request.headers.get("soapaction"))
        return Response(payload, status_code=status, media_type=SOAP_TYPE)

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        gw: GatewayState = request.app.state.gw
        checks = {"gateway": "ok", "database": "ok", "temporal": "ok"}
        try:
            await asyncio.to_thread(_ping_database, gw.engine)
        except Exception as exc:  # noqa: BLE001 - report, do not crash the probe
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            await asyncio.wait_for(gw.client.service_client.check_health(), timeout=3)
        except Exception as exc:  # noqa: BLE001
            checks["temporal"] = f"unreachable: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if healthy else 503)

    return app


def _ping_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))

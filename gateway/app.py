"""The FastAPI gateway: terminates the Web Connector's SOAP calls (and, later, Stripe's webhooks).

Thin by design: each route reads the body under a size cap, hands bytes to a sans-IO or service object, and
returns bytes. The Temporal client and the database engine are created once, in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import Engine, text
from sqlmodel import Session
from temporalio.client import Client

from gateway.access import client_address
from gateway.arrivals import ArrivalHook
from gateway.body import BodyTimeout, BodyTooLarge, UnknownTicket, read_soap_body
from gateway.delivery import Deliverer
from gateway.event_signals import EventSignaller
from gateway.inbox import WebhookInbox, drain_forever, inbox_path
from gateway.ops import router as ops_router
from gateway.pools import run_on
from gateway.reconcile import router as reconcile_router
from gateway.status import router as status_router
from gateway.stripe_webhook import router as stripe_webhook_router
from ml_connector import logs
from ml_connector.companies import sync_companies
from ml_connector.config import Settings
from ml_connector.qbwc.soap import ReceiveResponseXML, SoapFault, render_fault, render_result
from ml_connector.qbwc.throttle import PEER, LoginThrottle
from ml_connector.qbwc.wsdl import render_wsdl
from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbwc_server.service import QbwcService
from ml_connector.retention import prune_forever
from ml_connector.runwindows import RunWindowSchedule
from ml_connector.storage.engine import make_engine, migrate, private_dir
from ml_connector.storage.models import QbwcSession
from ml_connector.temporal import connect

log = logging.getLogger(__name__)
SOAP_TYPE = "text/xml; charset=utf-8"
CLOSE = {"Connection": "close"}


@dataclass
class GatewayState:
    settings: Settings
    engine: Engine
    client: Client
    queue: RequestQueue
    service: QbwcService
    deliverer: Deliverer
    signaller: EventSignaller
    # SOAP (parsing, scrypt, the queue) and webhooks each run on their own threads, so a login flood cannot
    # make Stripe wait; the status page and probes use asyncio's default pool.
    soap_pool: ThreadPoolExecutor
    webhook_pool: ThreadPoolExecutor
    # Turns for receiveResponseXML bodies above MLC_SOAP_MAX_BYTES (read, parsed and answered a few at a time).
    large_bodies: asyncio.Semaphore
    # SQLite only: the webhook inbox the gateway alone writes (gateway/inbox.py), and the one thread that moves
    # its events into the main database (it may wait for SQLite's write lock; the webhook threads never do).
    inbox: WebhookInbox | None = None
    inbox_pool: ThreadPoolExecutor | None = None


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    engine: Engine | None = None,
    sweep_interval: float = 5.0,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.register_settings(settings)
        if settings.data_dir.exists():
            private_dir(settings.data_dir)  # tickets, hashes and payloads live there: 0700
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
            login_throttle=LoginThrottle(
                free_failures=settings.limits.login_free_failures,
                base_delay=timedelta(seconds=min(2, settings.limits.login_max_delay_seconds)),
                max_delay=timedelta(seconds=settings.limits.login_max_delay_seconds),
                memory=timedelta(seconds=max(3600, settings.limits.login_max_delay_seconds)),
            ),
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
        limits = settings.limits
        path = inbox_path(str(db.url))
        inbox = await asyncio.to_thread(WebhookInbox, path) if path is not None else None
        inbox_pool = ThreadPoolExecutor(1, thread_name_prefix="mlc-inbox") if inbox is not None else None
        soap_pool = ThreadPoolExecutor(limits.soap_threads, thread_name_prefix="mlc-soap")
        webhook_pool = ThreadPoolExecutor(limits.webhook_threads, thread_name_prefix="mlc-webhook")
        app.state.gw = GatewayState(
            settings,
            db,
            temporal,
            queue,
            service,
            deliverer,
            signaller,
            soap_pool,
            webhook_pool,
            asyncio.Semaphore(limits.soap_large_bodies),
            inbox,
            inbox_pool,
        )
        tasks = [
            asyncio.create_task(deliverer.run(), name="qb-delivery"),
            asyncio.create_task(signaller.run(), name="stripe-event-sweeper"),
            asyncio.create_task(prune_forever(db, limits.retention_days), name="retention"),
        ]
        if inbox is not None:
            tasks.append(asyncio.create_task(drain_forever(inbox, db, inbox_pool), name="webhook-inbox"))
        deliverer.kick()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if inbox is not None:
                # What the loop did not move yet is moved now; anything left is moved at the next start.
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(inbox.drain, db)
                inbox.close()
            if inbox_pool is not None:
                inbox_pool.shutdown(wait=False, cancel_futures=True)
            soap_pool.shutdown(wait=False, cancel_futures=True)
            webhook_pool.shutdown(wait=False, cancel_futures=True)
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
        limits = gw.settings.limits
        async with contextlib.AsyncExitStack() as held:
            try:
                body = await read_soap_body(
                    request,
                    small_limit=limits.soap_max_body_bytes,
                    large_limit=gw.settings.max_body_bytes,
                    large_turns=gw.large_bodies,
                    held=held,
                    ticket_ok=lambda ticket: run_on(gw.soap_pool, live_ticket, gw.engine, ticket),
                    time_limit=limits.http_body_timeout_seconds,
                )
            # Refused before the body was read to its end. The connection stays open so the client can read
            # the answer (closing on unread data resets it); uvicorn discards the rest of the upload, and
            # gateway/server.py closes the connection if no new request follows in time.
            except BodyTooLarge as exc:
                return PlainTextResponse(str(exc), status_code=413)
            except UnknownTicket as exc:
                # What the service answers any call with an unknown ticket; the rest of the body is never read.
                answer = render_result(ReceiveResponseXML(exc.ticket, "", "", ""), -1)
                return Response(answer, media_type=SOAP_TYPE)
            except BodyTimeout as exc:
                return PlainTextResponse(str(exc), status_code=408, headers=CLOSE)
            except SoapFault as fault:
                log.info("qbwc: refused a malformed SOAP request: %s", fault.message)
                return Response(render_fault(fault), status_code=500, media_type=SOAP_TYPE)
            # The client's address reaches authenticate's throttle through a context variable.
            token = PEER.set(client_address(request, limits.trusted_proxies))
            try:
                status, payload = await run_on(
                    gw.soap_pool, gw.service.handle, body, request.headers.get("soapaction")
                )
            finally:
                PEER.reset(token)
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


def live_ticket(engine: Engine, ticket: str) -> bool:
    """Whether ``ticket`` names an open, unexpired Web Connector session (one indexed read)."""
    with Session(engine) as db:
        session = db.get(QbwcSession, ticket)
        if session is None or session.closed_at is not None:
            return False
        expires = session.expires_at
        return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) > datetime.now(UTC)


def _ping_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))

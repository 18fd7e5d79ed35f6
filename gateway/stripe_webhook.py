"""``POST /stripe/webhook``: verify, persist, answer; the payment's workflow is signalled after the answer.

The request path does the least that makes a delivery durable and nothing more; the work happens in
Temporal. In order:

1. Read the raw body under the size cap (413) — the signature covers the exact bytes, so nothing parses
   them before verification.
2. Verify ``Stripe-Signature`` against every configured secret (rotation), with the configured tolerance:
   a bad or stale signature or bad JSON is a 400 whose body names the reason, and nothing is stored or
   started. No secret configured: 503, so Stripe keeps the event and retries once the operator fixes it.
3. An event of the other mode than ``MLC_STRIPE_API_KEY`` (``livemode``), or of another account than
   ``MLC_STRIPE_ACCOUNT``: 200 (Stripe must not retry), the reason logged, nothing stored or signalled.
   Route it (``ml_connector.stripe.events.route``). Event types we do not act on here: 200, no-op.
4. Store the event (unique by id; a redelivery counts ``deliveries``) and commit — on SQLite into the gateway's
   own inbox file (``gateway/inbox.py``), moved into ``stripe_event`` right after the answer, so the answer never
   waits for the main database's single write lock.
5. 200 — the answer depends only on verification and that insert. Then, after the response is sent,
   signal-with-start the payment's workflow ``payment/{company}/{pi_… | ch_…}`` (or the customer's) and set
   ``stripe_event.signalled_at`` (``gateway/event_signals.py``). If Temporal is unreachable the event stays
   unsignalled — counted in ``mlc_webhook_signal_failures``, logged, visible in ``/healthz`` — and the
   gateway's sweeper signals it once Temporal answers. A redelivery of an event already signalled is only
   counted; one whose signal has not gone out yet is signalled again (duplicate signals are harmless).

Which company? The object's ``qb_company`` metadata, else the only configured company, else the placeholder
``unresolved``: the workflow then resolves the company through the stored customer link and hands the
payment over (a database search has no place in a request Stripe times).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.background import BackgroundTask

from gateway.body import BodyTimeout, BodyTooLarge, read_body
from gateway.event_signals import StoredEvent
from gateway.inbox import drain_and_signal, store_or_count
from gateway.pools import run_on
from gateway.stripe_customers import customer_company
from ml_connector import metrics
from ml_connector.config import StripeConfig
from ml_connector.ledger.signals import ledger_workflow_id
from ml_connector.payments.companies import company_for
from ml_connector.storage.models import AuditEntry, StripeEvent
from ml_connector.stripe.events import LEDGER_KINDS, EventShapeError, Route, RouteKind, route
from ml_connector.stripe.webhooks import WebhookVerificationError, verify_event
from workflows.stripe_customer import workflow_id as customer_workflow_id

log = logging.getLogger(__name__)
router = APIRouter()


def _error(status: int, reason: str, message: str) -> JSONResponse:
    metrics.WEBHOOKS_REJECTED.labels(reason).inc()
    # A stalled body: close the connection (a 413 leaves it open, so the client can read the answer).
    headers = {"Connection": "close"} if status == 408 else None
    return JSONResponse({"error": reason, "message": message}, status_code=status, headers=headers)


@router.post("/stripe/webhook")
@metrics.timed_webhook
async def stripe_webhook(request: Request) -> JSONResponse:
    gw = request.app.state.gw
    settings = gw.settings
    try:
        body = await read_body(
            request, settings.max_body_bytes, time_limit=settings.limits.http_body_timeout_seconds
        )
    except BodyTooLarge as exc:
        return _error(413, "payload_too_large", str(exc))
    except BodyTimeout as exc:
        return _error(408, "body_timeout", str(exc))
    secrets = list(settings.stripe.webhook_secrets)
    if not secrets:
        return _error(
            503, "not_configured", "no webhook signing secret configured (MLC_STRIPE_WEBHOOK_SECRET)"
        )
    try:
        event = verify_event(
            body,
            request.headers.get("stripe-signature"),
            secrets,
            tolerance=settings.stripe.webhook_tolerance_s,
        )
    except WebhookVerificationError as exc:
        return _error(400, exc.reason, str(exc))
    metrics.WEBHOOKS_RECEIVED.labels(str(event.get("type") or "unknown")).inc()
    foreign = foreign_event(event, settings.stripe)
    if foreign:
        # Signed with our secret, but not about our account or mode (a test event on a live installation, a
        # connected account's event): acknowledged so Stripe stops, neither stored nor signalled.
        log.warning("stripe webhook: ignored event %s: %s", str(event.get("id"))[:80], foreign)
        metrics.WEBHOOKS_REJECTED.labels("foreign_event").inc()
        return JSONResponse({"received": True, "ignored": foreign})

    configured = [c.id for c in settings.companies]
    data = event.get("data")
    obj: dict[str, Any] = data.get("object", {}) if isinstance(data, dict) else {}
    company = company_for(obj, configured) if configured else ""
    try:
        found = route(event)
    except EventShapeError as exc:
        await run_on(gw.webhook_pool, _store_unroutable, gw.engine, event, body, company, str(exc))
        return JSONResponse({"received": True, "routed": False, "reason": str(exc)})
    if found is not None and found.kind is RouteKind.CUSTOMER and configured:
        # customer.created/updated/deleted: Stripe → QuickBooks customers (gateway/stripe_customers.py)
        customer_company_id = customer_company(settings, company)
        customer_wid = customer_workflow_id(customer_company_id, found.customer_id or found.object_id)
        return await _store_and_ack(request, found, body, customer_company_id, customer_wid)
    if found is not None and found.kind in LEDGER_KINDS:
        # refunds, disputes, payouts: the clearing-account ledger (workflows/ledger.py), when it is on
        ledger_company = settings.clearing_company
        if ledger_company is None:
            return JSONResponse({"received": True, "ignored": str(event.get("type"))})
        return await _store_and_ack(request, found, body, ledger_company, ledger_workflow_id(ledger_company))
    if found is None or found.kind is not RouteKind.PAYMENT or not company:
        return JSONResponse({"received": True, "ignored": str(event.get("type"))})
    return await _store_and_ack(request, found, body, company, found.workflow_id(company))


def foreign_event(event: dict[str, Any], stripe: StripeConfig) -> str:
    """Why a verified event is not ours to act on ("" when it is): its mode or account differs from the key's."""
    livemode = event.get("livemode")
    if stripe.configured and isinstance(livemode, bool) and livemode != stripe.live:
        event_mode, key_mode = ("live", "test") if livemode else ("test", "live")
        return f"livemode_mismatch: a {event_mode}-mode event, but MLC_STRIPE_API_KEY is a {key_mode} key"
    account = event.get("account")
    if account and account != stripe.account_id:
        expected = stripe.account_id or "no connected accounts"
        return f"account_mismatch: an event of account {str(account)[:40]}, expected {expected} (MLC_STRIPE_ACCOUNT)"
    return ""


async def _store_and_ack(
    request: Request, found: Route, body: bytes, company: str, workflow_id: str
) -> JSONResponse:
    """Commit the event, answer 200, and signal its workflow only after the answer is on its way."""
    gw = request.app.state.gw
    if gw.inbox is not None:
        # SQLite: committed to the gateway's own inbox file, moved into stripe_event after the answer
        # (gateway/inbox.py), so the ack never waits for the main database's write lock.
        if await run_on(gw.webhook_pool, gw.inbox.accept, found, body, company, workflow_id):
            metrics.WEBHOOKS_DUPLICATE.inc()
        return JSONResponse(
            {"received": True, "workflow_id": workflow_id},
            background=BackgroundTask(
                drain_and_signal, gw.inbox, gw.engine, gw.inbox_pool, gw.signaller, StoredEvent(found, company)
            ),
        )
    unsignalled = await run_on(gw.webhook_pool, _store_event, gw.engine, found, body, company, workflow_id)
    background = (
        BackgroundTask(gw.signaller.signal_stored, StoredEvent(found, company)) if unsignalled else None
    )
    return JSONResponse({"received": True, "workflow_id": workflow_id}, background=background)


def _store_event(engine: Engine, found: Route, body: bytes, company: str, workflow_id: str) -> bool:
    """Insert the event once; a redelivery only counts. Two concurrent deliveries both end in one row.

    Returns whether the event still needs its signal: a new event, or a redelivery of one whose signal has
    not gone out (Temporal was down, or the gateway died before signalling).
    """
    known = store_or_count(
        engine,
        StripeEvent(
            id=found.event_id,
            type=found.event_type,
            company_id=company,
            object_id=found.object_id,
            workflow_id=workflow_id,
            livemode=found.livemode,
            created=found.created or datetime.now(UTC),
            payload=body.decode("utf-8", errors="replace"),
        ),
    )
    if known is None:
        return True
    metrics.WEBHOOKS_DUPLICATE.inc()
    return not known.signalled


def _store_unroutable(engine: Engine, event: dict[str, Any], body: bytes, company: str, reason: str) -> None:
    """An event of a type we handle that cannot be routed: parked in the audit trail, never dropped."""
    event_id = str(event.get("id") or "")
    created = event.get("created")
    with Session(engine) as db:
        if event_id and db.get(StripeEvent, event_id) is None:
            db.add(
                StripeEvent(
                    id=event_id,
                    type=str(event.get("type") or ""),
                    company_id=company,
                    created=datetime.fromtimestamp(created, UTC)
                    if isinstance(created, int)
                    else datetime.now(UTC),
                    payload=body.decode("utf-8", errors="replace"),
                )
            )
        db.add(
            AuditEntry(
                company_id=company,
                action="event.unroutable",
                outcome="failed",
                stripe_event_id=event_id[:80],
                error=reason,
                detail=json.dumps({"type": event.get("type")}),
            )
        )
        db.commit()

"""Retention: personal data is kept ``MLC_RETENTION_DAYS`` (default 90), the audit trail for ever.

What goes, once older than the retention period:

- the payload of stored Stripe events (the row stays: its id still de-duplicates, and the audit trail names it),
  once the event was handed to its workflow (an unsignalled event's payload is what the sweeper signals from);
- the qbXML body and response of finished, delivered QuickBooks requests, and their stored iterator pages
  (the row stays with its status, status code and ids);
- Web Connector session rows whose ticket expired (they hold the tickets and QuickBooks' error texts).

Never: ``audit_entry`` (the record of what was posted, held, refused), links, ledger postings, companies.
Work happens in small batches, so on SQLite no prune holds the write lock for long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, or_, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from ml_connector.storage.models import QbRequest, QbResponsePage, QbwcSession, StripeEvent

log = logging.getLogger(__name__)
BATCH = 500
PRUNE_EVERY = timedelta(hours=1)
FIRST_PRUNE_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class Pruned:
    event_payloads: int = 0
    request_bodies: int = 0
    response_pages: int = 0
    sessions: int = 0

    @property
    def total(self) -> int:
        return self.event_payloads + self.request_bodies + self.response_pages + self.sessions


def prune(engine: Engine, retention_days: int, *, now: datetime | None = None) -> Pruned:
    """Prune what is older than ``retention_days`` (0: nothing); returns how many rows were touched."""
    if retention_days <= 0:
        return Pruned()
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    events = _batched(engine, lambda db: _prune_events(db, cutoff))
    pages = _batched(engine, lambda db: _prune_pages(db, cutoff))
    bodies = _batched(engine, lambda db: _prune_requests(db, cutoff))
    sessions = _batched(engine, lambda db: _prune_sessions(db, cutoff))
    return Pruned(events, bodies, pages, sessions)


def _batched(engine: Engine, step: Callable[[Session], int]) -> int:
    total = 0
    while True:
        with Session(engine) as db:
            count = step(db)
            db.commit()
        total += count
        if count < BATCH:
            return total


def _finished_requests(cutoff: datetime) -> SelectOfScalar[int] | SelectOfScalar[None]:
    return select(QbRequest.id).where(
        col(QbRequest.status).in_(("done", "failed")),
        col(QbRequest.delivered).is_(True),
        col(QbRequest.completed_at) < cutoff,
    )


def _prune_events(db: Session, cutoff: datetime) -> int:
    ids = (
        select(StripeEvent.id)
        .where(
            col(StripeEvent.received_at) < cutoff,
            col(StripeEvent.payload) != "",
            or_(col(StripeEvent.signalled_at).is_not(None), col(StripeEvent.workflow_id) == ""),
        )
        .limit(BATCH)
    )
    found = list(db.exec(ids).all())
    if found:
        db.exec(update(StripeEvent).where(col(StripeEvent.id).in_(found)).values(payload=""))  # type: ignore[call-overload]
    return len(found)


def _prune_pages(db: Session, cutoff: datetime) -> int:
    ids = select(QbResponsePage.id).where(
        col(QbResponsePage.request_id).in_(_finished_requests(cutoff))
    ).limit(BATCH)
    found = list(db.exec(ids).all())
    if found:
        db.exec(delete(QbResponsePage).where(col(QbResponsePage.id).in_(found)))  # type: ignore[call-overload]
    return len(found)


def _prune_requests(db: Session, cutoff: datetime) -> int:
    ids = (
        _finished_requests(cutoff)
        .where(or_(col(QbRequest.body) != "", col(QbRequest.response).is_not(None)))
        .limit(BATCH)
    )
    found = list(db.exec(ids).all())
    if found:
        db.exec(  # type: ignore[call-overload]
            update(QbRequest).where(col(QbRequest.id).in_(found)).values(body="", response=None)
        )
    return len(found)


def _prune_sessions(db: Session, cutoff: datetime) -> int:
    ids = select(QbwcSession.ticket).where(col(QbwcSession.expires_at) < cutoff).limit(BATCH)
    found = list(db.exec(ids).all())
    if found:
        db.exec(delete(QbwcSession).where(col(QbwcSession.ticket).in_(found)))  # type: ignore[call-overload]
    return len(found)


async def prune_forever(engine: Engine, retention_days: int) -> None:
    """The gateway's retention loop: a minute after start, then hourly. Failures are logged, never fatal."""
    if retention_days <= 0:
        return
    await asyncio.sleep(FIRST_PRUNE_AFTER.total_seconds())
    while True:
        try:
            pruned = await asyncio.to_thread(prune, engine, retention_days)
            if pruned.total:
                log.info("retention: pruned data older than %d days: %s", retention_days, pruned)
        except Exception:  # noqa: BLE001 - a failed prune is retried next hour
            log.exception("retention: prune failed")
        await asyncio.sleep(PRUNE_EVERY.total_seconds())

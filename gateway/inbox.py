"""The webhook inbox: on SQLite, a webhook's ack waits for nobody's write lock but its own.

SQLite has one write lock per database file. On the embedded default the worker (audit rows, links, the
queue) and the Web Connector endpoint (leases, answers) take it all the time, so a webhook's insert into
``stripe_event`` queued behind their transactions: the payments bench measured ack p99 445 ms, max 1.15 s,
where PostgreSQL answers in 28 ms — and Stripe retries webhooks it finds slow.

So on SQLite the gateway keeps a second database file that only it writes, next to the main one
(``<database>-webhook-inbox``, mode 0600). The ack path is:

1. verify the signature (unchanged);
2. ``accept``: one short transaction in the inbox file (insert the event, or count a redelivery) — committed
   before the answer, so "stored before 200" holds exactly as before (same durability as the main database:
   WAL, ``synchronous=NORMAL``);
3. 200, and then, after the answer has gone out, ``drain`` moves the event into ``stripe_event`` in the main
   database (insert, or add the deliveries counted meanwhile) and the event's workflow is signalled if its row
   is still unsignalled — the same ``EventSignaller`` path as on PostgreSQL.

A loop in the gateway drains whatever is left every second (the gateway died between ack and drain, the main
database was busy), so the sweeper in ``event_signals.py`` sees every event in ``stripe_event`` a second later at
most. Drained rows stay a day (a redelivery within it is counted without touching the main database) and are
then deleted; a redelivery after that is drained again and, its row being signalled, only counted.

On PostgreSQL there is no inbox: its row locks do not serialise unrelated writers, and the ack inserts into
``stripe_event`` directly.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.event_signals import EventSignaller, StoredEvent
from gateway.pools import run_on
from ml_connector.storage.engine import private_file
from ml_connector.storage.models import StripeEvent
from ml_connector.stripe.events import Route

log = logging.getLogger(__name__)
DRAIN_EVERY = 1.0
KEEP_DRAINED = timedelta(days=1)
DRAIN_BATCH = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    company_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created TEXT NOT NULL,
    received_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    undrained INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_undrained ON inbox (undrained) WHERE undrained > 0;
"""


@dataclass(frozen=True)
class _Row:
    id: str
    type: str
    company_id: str
    object_id: str
    workflow_id: str
    livemode: bool
    created: datetime
    received_at: datetime
    payload: str
    undrained: int


@dataclass
class Drained:
    moved: int = 0
    unsignalled: list[str] = field(default_factory=list)


def inbox_path(database_url: str) -> Path | None:
    """Where the inbox of this database lives, or ``None`` when the database needs none (not a SQLite file)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    main = Path(url.database)
    return main.with_name(main.name + "-webhook-inbox")


class WebhookInbox:
    """The gateway's own SQLite file of received webhooks (see the module docstring). Thread-safe."""

    def __init__(self, path: Path) -> None:
        private_file(path)
        self.path = path
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()  # one connection, used by the webhook threads and the drain in turn
        self._drain_lock = threading.Lock()  # one drain at a time, so no event is moved twice

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def accept(self, found: Route, body: bytes, company: str, workflow_id: str) -> bool:
        """Store the event, or count a redelivery of it; committed on return. Returns whether it was a duplicate."""
        now = datetime.now(UTC)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                inserted = self._conn.execute(
                    "INSERT OR IGNORE INTO inbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (
                        found.event_id,
                        found.event_type,
                        company,
                        found.object_id,
                        workflow_id,
                        int(found.livemode),
                        (found.created or now).isoformat(),
                        now.isoformat(),
                        body.decode("utf-8", errors="replace"),
                    ),
                ).rowcount
                if not inserted:
                    self._conn.execute("UPDATE inbox SET undrained = undrained + 1 WHERE id = ?", (found.event_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return not inserted

    def pending(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM inbox WHERE undrained > 0").fetchone()[0])

    def _undrained(self, only: str | None, limit: int) -> list[_Row]:
        with self._lock:
            if only:
                rows = self._conn.execute("SELECT * FROM inbox WHERE undrained > 0 AND id = ?", (only,)).fetchall()
            else:
                rows = self._conn.execute("SELECT * FROM inbox WHERE undrained > 0 LIMIT ?", (limit,)).fetchall()
        return [
            _Row(r[0], r[1], r[2], r[3], r[4], bool(r[5]), datetime.fromisoformat(r[6]),
                 datetime.fromisoformat(r[7]), r[8], int(r[9]))
            for r in rows
        ]

    def drain(self, engine: Engine, *, only: str | None = None, limit: int = DRAIN_BATCH) -> Drained:
        """Move undrained events into ``stripe_event``; says which of them still need their signal."""
        drained = Drained()
        with self._drain_lock:
            for row in self._undrained(only, limit):
                if _move(engine, row):
                    drained.unsignalled.append(row.id)
                with self._lock:
                    self._conn.execute(
                        "UPDATE inbox SET undrained = max(undrained - ?, 0) WHERE id = ?", (row.undrained, row.id)
                    )
                drained.moved += 1
        return drained

    def forget_drained(self, *, now: datetime | None = None) -> int:
        cutoff = ((now or datetime.now(UTC)) - KEEP_DRAINED).isoformat()
        with self._lock:
            return self._conn.execute(
                "DELETE FROM inbox WHERE undrained = 0 AND received_at < ?", (cutoff,)
            ).rowcount


def _move(engine: Engine, row: _Row) -> bool:
    """Insert the event into ``stripe_event`` or add its new deliveries; whether it is still unsignalled."""
    event = StripeEvent(
        id=row.id,
        type=row.type,
        company_id=row.company_id,
        object_id=row.object_id,
        workflow_id=row.workflow_id,
        livemode=row.livemode,
        created=row.created,
        received_at=row.received_at,
        deliveries=row.undrained,
        payload=row.payload,
    )
    known = store_or_count(engine, event)
    if known is None:
        return bool(row.workflow_id)
    return not known.signalled and bool(known.workflow_id)


@dataclass(frozen=True)
class KnownEvent:
    """What a redelivered event's stored row says once its new deliveries are counted."""

    signalled: bool
    workflow_id: str


def store_or_count(engine: Engine, event: StripeEvent) -> KnownEvent | None:
    """Insert the event once; if its row exists already, add ``event.deliveries`` to it and say what it holds.

    None when this call stored the row (or a conflicting insert's row vanished again: nothing to count).
    The one place both the webhook endpoint and the inbox drain write ``stripe_event``, so that two gateways (or
    a gateway and its drain loop) racing on one event end in one row with every delivery counted.
    """
    event_id, deliveries = event.id, event.deliveries  # read before a rollback can expunge the new row
    with Session(engine) as db:
        existing = db.get(StripeEvent, event_id)
        if existing is None:
            db.add(event)
            try:
                db.commit()
                return None
            except IntegrityError:  # another gateway stored it first
                db.rollback()
                existing = db.get(StripeEvent, event_id)
                if existing is None:
                    return None
        existing.deliveries += deliveries
        known = KnownEvent(signalled=existing.signalled_at is not None, workflow_id=existing.workflow_id)
        db.add(existing)
        db.commit()
        return known


async def drain_and_signal(
    inbox: WebhookInbox, engine: Engine, pool: Executor | None, signaller: EventSignaller, event: StoredEvent
) -> None:
    """After an ack: move the event into the main database and signal its workflow if nobody has yet."""
    try:
        drained = await run_on(pool, partial(inbox.drain, engine, only=event.found.event_id))
    except Exception:  # noqa: BLE001 - stored in the inbox: the drain loop moves it a second later
        log.exception("webhook inbox: could not move event %s yet", event.found.event_id)
        return
    if drained.unsignalled:
        await signaller.signal_stored(event)


async def drain_forever(inbox: WebhookInbox, engine: Engine, pool: Executor | None) -> None:
    """The gateway's inbox loop: whatever the ack's own drain did not move, a second later at most."""
    passes = 0
    while True:
        await asyncio.sleep(DRAIN_EVERY)
        try:
            while (await run_on(pool, inbox.drain, engine)).moved >= DRAIN_BATCH:
                pass
            passes += 1
            if passes % 3600 == 0:
                await run_on(pool, inbox.forget_drained)
        except Exception:  # noqa: BLE001 - the rows stay in the inbox; try again next pass
            log.exception("webhook inbox: drain failed; retrying shortly")

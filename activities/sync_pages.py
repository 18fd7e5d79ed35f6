"""What the sync's page activities share: their input and summary, reading a stored page, the Stripe pool.

Why one page per activity: a page (≤ 100 customers or invoices) is read from the database, decided on by the
pure rules in ``ml_connector.sync``, pushed to Stripe, and its links stored in one transaction. The activity
returns counts and the page's write-backs (small), never customer data, so a company of any size keeps a flat
memory profile and a small workflow history; a retried activity redoes one page, and every write it repeats
carries the same deterministic idempotency key (and, for creates, the exact parameters it first sent: see
``StripeWriteIntent``).

Why threads: the rate limiter, not latency, should bound throughput. A page's Stripe requests run on a small
thread pool and all pass through the process-wide limiter, so Stripe sees requests at close to the configured
rate however slow each round trip is.

The resources live beside this module: ``customer_pages`` (QuickBooks customers → Stripe), ``invoice_pages``
(QuickBooks invoices and their deletions → Stripe), ``stripe_customer`` (a Stripe customer read for, and
tagged by, the Stripe → QuickBooks workflow).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import stripe
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ml_connector.config import Settings
from ml_connector.qbxml.values import QbDateTime
from ml_connector.storage.models import QbRequest, QbResponsePage, StripeWriteIntent
from ml_connector.stripe.client import StripeGateway
from ml_connector.sync.link_field import LinkField
from ml_connector.sync.totals import PageTotals, is_outage
from ml_connector.sync.watermark import advance

T = TypeVar("T")


class StripeNotConfigured(ApplicationError):
    pass


@dataclass(frozen=True)
class PageInput:
    """One stored page of an iterator query (``QbRunResult.request_id``, page ``page_no`` from 0)."""

    company_id: str
    request_id: int
    page_no: int


@dataclass(frozen=True)
class WriteBackItem:
    """A customer whose Stripe id must be stored in QuickBooks, with what we read of it (a first attempt
    needs no re-read; a conflict falls back to read-and-re-apply). Without an ``edit_sequence`` nothing
    fresh was read: the customer is read first and only our field applied."""

    list_id: str
    stripe_customer_id: str
    edit_sequence: str | None = None
    notes: str | None = None
    has_field: bool = False


@dataclass(frozen=True)
class PageSummary:
    """What one page did. ``newest`` is the newest TimeModified read; ``hold`` the oldest one that must be
    read again (a Stripe failure), so the workflow never moves its watermark past unfinished work."""

    counts: dict[str, int] = field(default_factory=dict)
    newest: str | None = None
    hold: str | None = None
    write_backs: list[WriteBackItem] = field(default_factory=list)
    stripe_requests: int = 0

    @staticmethod
    def of(totals: PageTotals, write_backs: list[WriteBackItem] | None = None) -> PageSummary:
        return PageSummary(
            counts=dict(totals.counts),
            newest=totals.newest,
            hold=totals.hold,
            write_backs=write_backs or [],
            stripe_requests=totals.stripe_requests,
        )

    @property
    def totals(self) -> PageTotals:
        return PageTotals(self.counts, self.newest, self.hold, self.stripe_requests)


def link_field_of(settings: Settings) -> LinkField:
    return LinkField(settings.posting.customer_link_field, settings.posting.customer_link_dataext_name)  # type: ignore[arg-type]


def read_page(engine: Engine, request_id: int, page_no: int) -> str | None:
    """A stored page; page 0 of a request whose one answer was small enough to be kept inline."""
    with Session(engine) as db:
        return read_page_in(db, request_id, page_no)


def read_page_in(db: Session, request_id: int, page_no: int) -> str | None:
    page = db.exec(
        select(QbResponsePage).where(
            QbResponsePage.request_id == request_id, QbResponsePage.page_no == page_no
        )
    ).first()
    if page is not None:
        return page.xml
    if page_no == 0:
        row = db.get(QbRequest, request_id)
        return row.response if row is not None else None
    return None


def describe(exc: BaseException) -> str:
    if isinstance(exc, stripe.StripeError):
        return f"{type(exc).__name__} ({exc.http_status}): {exc.user_message or exc}"
    return f"{type(exc).__name__}: {exc}"


class Decided(Protocol):
    """A record's decision: what the page does with it (a ``CustomerAction``, an ``InvoiceAction``)."""

    @property
    def action(self) -> StrEnum: ...


class Modified(Protocol):
    """A QuickBooks record of a page: where the watermark would be held if its Stripe side failed."""

    @property
    def time_modified(self) -> QbDateTime | None: ...


RecordT = TypeVar("RecordT", bound=Modified)
DecisionT = TypeVar("DecisionT", bound=Decided)
LinkT = TypeVar("LinkT")
OutcomeT = TypeVar("OutcomeT")


@dataclass
class PageTally:
    """A page's totals, folded in record by record as :meth:`settled` walks them."""

    kind: str  # "customer", "invoice": how a failure is logged
    log: logging.Logger
    totals: PageTotals = field(default_factory=PageTotals)

    def settled(
        self,
        records: Iterable[RecordT],
        record_id: Callable[[RecordT], str],
        decisions: Mapping[str, DecisionT],
        links: Mapping[str, LinkT],
        outcomes: Mapping[str, OutcomeT | BaseException],
    ) -> Iterator[tuple[RecordT, DecisionT, LinkT | None, OutcomeT | None]]:
        """Each record with its decision, its link and its Stripe outcome (None: nothing was sent), counted as
        its action. A record whose Stripe side raised is counted as failed, held at its TimeModified (the next
        poll reads it again) and logged, and not handed on: the page goes on without it."""
        for record in records:
            rid = record_id(record)
            decision, outcome = decisions[rid], outcomes.get(rid)
            wall_clock = record.time_modified.wall_clock if record.time_modified else None
            failed = isinstance(outcome, BaseException)
            self.totals = self.totals.add(decision.action.value, failed=failed, wall_clock=wall_clock)
            if isinstance(outcome, BaseException):
                self.log.warning(
                    "%s sync: %s %s failed: %s", self.kind, decision.action, rid, describe(outcome)
                )
            else:
                yield record, decision, links.get(rid), outcome


def finish_page(
    outcomes: Sequence[object],
    totals: PageTotals,
    seen: Iterable[QbDateTime | None],
    requests: int,
    write_backs: list[WriteBackItem] | None = None,
) -> PageSummary:
    """The page's summary: its totals, the newest TimeModified it read (``seen``) and the Stripe requests it
    spent; or the activity fails (Temporal retries it) when every Stripe request of the page failed."""
    if is_outage(len(outcomes), totals.count("failed")):
        failure = next(o for o in outcomes if isinstance(o, BaseException))
        raise ApplicationError(f"every Stripe request of this page failed: {describe(failure)}")
    newest = advance(None, seen)
    return PageSummary.of(PageTotals(totals.counts, newest, totals.hold, requests), write_backs)


class RequestCounter:
    """Counts this page's Stripe requests (attempts, as the limiter sees them) for the benchmark."""

    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway
        self.start = gateway.stats().limiter.acquired

    @property
    def used(self) -> int:
        return self.gateway.stats().limiter.acquired - self.start


# How long one Stripe request may take, on average, while the sync still sends at the full rate limit: the pool
# has rate × this many threads. Stripe's own round trips for creates and updates are a few hundred
# milliseconds; on a busy host the worker's threads also wait for the CPU. With 16 threads (the old fixed size)
# a PostgreSQL-backed first sync on two busy cores reached 87–91 % of its limit, with 50 (100/s × 0.5 s)
# 99 % (measured: bench/RESULTS.md).
STRIPE_ROUND_TRIP_BUDGET_SECONDS = 0.5
MIN_STRIPE_THREADS, MAX_STRIPE_THREADS = 8, 64


def stripe_threads(rate_per_s: float | None) -> int:
    """Threads for a worker's Stripe pool: enough that the rate limiter, not the round trip, bounds the pace."""
    if rate_per_s is None:
        return MIN_STRIPE_THREADS
    wanted = math.ceil(rate_per_s * STRIPE_ROUND_TRIP_BUDGET_SECONDS)
    return max(MIN_STRIPE_THREADS, min(MAX_STRIPE_THREADS, wanted))


class PhaseTimer:
    """Where a page's time went, for the log line an operator reads when a sync is slower than its rate limit:
    how long the activity waited for a worker slot after it was scheduled, then each phase in turn."""

    def __init__(self) -> None:
        info = activity.info()
        queued = info.started_time - info.current_attempt_scheduled_time
        self.laps: list[tuple[str, float]] = [("queued", max(0.0, queued.total_seconds()))]
        self._last = time.monotonic()

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.laps.append((phase, now - self._last))
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{phase} {seconds * 1000:.0f} ms" for phase, seconds in self.laps)


class SyncActivityBase:
    """Holds the Stripe gateway (and its process-wide limiter), the database and a thread pool for Stripe
    (``pool``: one the sync's activity classes share, so a worker's Stripe threads stay bounded)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        gateway: StripeGateway | None,
        *,
        threads: int | None = None,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._gateway = gateway
        if threads is None:
            threads = stripe_threads(gateway.limiter.rate_per_s if gateway is not None else None)
        self.pool = pool or ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mlc-stripe")

    @property
    def gateway(self) -> StripeGateway:
        if self._gateway is None:
            raise StripeNotConfigured(
                "Stripe is not configured: set MLC_STRIPE_API_KEY (and MLC_STRIPE_API_BASE for a local server)",
                type="StripeNotConfigured",
                non_retryable=True,
            )
        return self._gateway

    def _parallel(self, work: Sequence[Callable[[], T]]) -> list[T | BaseException]:
        """Run Stripe operations on the pool; each result is its value or the exception it raised."""

        def guarded(fn: Callable[[], T]) -> T | BaseException:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - reported per object, never lost
                return exc

        return list(self.pool.map(guarded, work))

    def _intents(self, company: str, wanted: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The parameters each create must send: those of an earlier, unfinished attempt if there was one."""
        if not wanted:
            return {}
        with Session(self.engine) as db:
            stored = self._store_intents(db, company, wanted)
            db.commit()
        return stored

    @staticmethod
    def _store_intents(
        db: Session, company: str, wanted: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Within the caller's transaction (which commits): earlier intents win, new ones are added."""
        if not wanted:
            return {}
        stored = {
            row.key: json.loads(row.params)
            for row in db.exec(
                select(StripeWriteIntent).where(col(StripeWriteIntent.key).in_(list(wanted)))
            ).all()
        }
        for intent_key, params in wanted.items():
            if intent_key not in stored:
                db.add(StripeWriteIntent(key=intent_key, company_id=company, params=json.dumps(params)))
                stored[intent_key] = params
        return stored

    @staticmethod
    def _forget_intents(db: Session, intent_keys: Sequence[str]) -> None:
        """The creates' links are stored (in the caller's transaction): their intents have done their job.

        One statement for the page, after its links: a lookup per create would flush and round-trip to the
        database once per customer, and on PostgreSQL, with the page's neighbours busy on Stripe threads in the
        same process, those hundreds of round trips cost seconds in which this page sends nothing to Stripe
        (measured: bench/RESULTS.md)."""
        if intent_keys:
            db.exec(delete(StripeWriteIntent).where(col(StripeWriteIntent.key).in_(list(intent_keys))))  # type: ignore[call-overload]

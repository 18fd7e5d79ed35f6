"""Prometheus metrics: the counters the gateway, webhook router and worker move, and the gauges read at scrape.

Two kinds of numbers, on purpose:

- **Events** (a webhook arrived or was refused, a Web Connector session opened, a SOAP call took 40 ms) are
  counted in process memory where they happen. The objects below are what other modules import and
  increment; they live in one private registry so that tests can build several gateways in one process
  without "duplicated timeseries" errors from the global registry.
- **State** (how many qbXML requests wait per company and how old the oldest is, how many payments are
  posted, waiting for a person or failed) is read from the database at scrape time by :class:`StateCollector`.
  The database is the truth shared by every gateway and worker process, so these numbers are right whichever
  process is scraped, and they survive restarts.

Stripe calls are made by the worker's activities through :class:`~ml_connector.stripe.client.StripeGateway`;
its retry policy already counts calls and 429s, so :func:`track_stripe_gateway` registers a gateway and the
collector reports its counts (in `ml-connector dev` worker and gateway share a process, so `/metrics` shows
them; a separate worker process counts its own).
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from starlette.responses import Response

from ml_connector.storage.models import AuditEntry, Company, QbRequest, StripeEvent
from ml_connector.stripe.client import StripeGateway

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS_RECEIVED = Counter(
    "mlc_webhooks_received",
    "Stripe webhooks that passed signature verification, by event type.",
    ["type"],
    registry=REGISTRY,
)
WEBHOOKS_REJECTED = Counter(
    "mlc_webhooks_rejected",
    "Stripe webhooks refused before any work started, by reason (bad_signature, stale, too_large, ...).",
    ["reason"],
    registry=REGISTRY,
)
WEBHOOKS_DUPLICATE = Counter(
    "mlc_webhooks_duplicate",
    "Stripe webhooks whose event id was already stored (Stripe redelivered it); acknowledged, nothing redone.",
    registry=REGISTRY,
)
WEBHOOK_SIGNAL_FAILURES = Counter(
    "mlc_webhook_signal_failures",
    "Stored Stripe events whose signal-with-start failed (Temporal unreachable); the sweeper retries them.",
    registry=REGISTRY,
)
QBWC_SESSIONS = Counter(
    "mlc_qbwc_sessions",
    "Web Connector authenticate calls by company and result (work, none, postponed, nvu).",
    ["company", "result"],
    registry=REGISTRY,
)
QBWC_ROUND_TRIPS = Counter(
    "mlc_qbwc_round_trips",
    "qbXML documents handed to the Web Connector (one sendRequestXML that carried requests).",
    ["company"],
    registry=REGISTRY,
)
QBWC_REQUESTS_SENT = Counter(
    "mlc_qbwc_requests_sent",
    "qbXML requests handed to the Web Connector inside those documents.",
    ["company"],
    registry=REGISTRY,
)
QBWC_CONNECTION_ERRORS = Counter(
    "mlc_qbwc_connection_errors",
    "Sessions in which the Web Connector could not open QuickBooks (connectionError), by HRESULT.",
    ["company", "hresult"],
    registry=REGISTRY,
)
QBWC_REFUSALS = Counter(
    "mlc_qbwc_refused_documents",
    "Request documents QuickBooks refused as a whole (messageSetStatusCode other than 0); none of them ran.",
    ["company"],
    registry=REGISTRY,
)
QBWC_UNSETTLED = Counter(
    "mlc_qbwc_unsettled_requests",
    "Requests that ended without an answer, by kind: QuickBooksUncertain (a write whose fate is unknown, "
    "verified by its workflow), QuickBooksRefused, QuickBooksNoAnswer (bounds tripped).",
    ["company", "kind"],
    registry=REGISTRY,
)
WEBHOOK_ACK_SECONDS = Histogram(
    "mlc_webhook_ack_seconds",
    "Time from a Stripe webhook's arrival at the handler to its answer (verify, store, acknowledge), by status.",
    ["status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)


def timed_webhook(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Observe :data:`WEBHOOK_ACK_SECONDS` around an async route handler (its signature kept for FastAPI)."""

    @functools.wraps(handler)
    async def timed(*args: Any, **kwargs: Any) -> Response:
        started = time.perf_counter()
        status = "500"
        try:
            response = await handler(*args, **kwargs)
            status = str(response.status_code)
            return response
        finally:
            WEBHOOK_ACK_SECONDS.labels(status).observe(time.perf_counter() - started)

    return timed


SOAP_LATENCY = Histogram(
    "mlc_soap_call_seconds",
    "Time the gateway spent answering one Web Connector SOAP call, by operation.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)

# Audit actions whose latest outcome says where a payment stands (see activities/audit.py).
_PAYMENT_ACTION_PREFIX = "payment."
# outcome of the latest settled audit row → the state reported for the payment
PAYMENT_STATES = {"ok": "posted", "held": "waiting", "failed": "failed"}

_stripe_gateways: weakref.WeakSet[StripeGateway] = weakref.WeakSet()
_stripe_lock = threading.Lock()


def track_stripe_gateway(gateway: StripeGateway) -> StripeGateway:
    """Report this gateway's Stripe request and 429 counts on `/metrics`; returns it for chaining."""
    with _stripe_lock:
        _stripe_gateways.add(gateway)
    return gateway


@dataclass(frozen=True)
class QueueDepth:
    """What waits for one company's Web Connector: requests not yet answered and the oldest one's age."""

    company_id: str
    pending: int
    sent: int
    oldest_created_at: datetime | None

    def oldest_age_seconds(self, now: datetime) -> float:
        if self.oldest_created_at is None:
            return 0.0
        return max(0.0, (now - _aware(self.oldest_created_at)).total_seconds())


@dataclass(frozen=True)
class PaymentState:
    """Where one Stripe payment stands in QuickBooks, from its latest settled audit row."""

    company_id: str
    stripe_object_id: str
    state: str  # posted | waiting | failed
    entry: AuditEntry


def queue_depths(engine: Engine) -> list[QueueDepth]:
    """Per company: requests queued (pending, or sent/iterating without an answer) and the oldest one's time."""
    waiting = ("pending", "sent", "iterating")
    with Session(engine) as db:
        rows = db.exec(
            select(
                QbRequest.company_id,
                QbRequest.status,
                func.count(),
                func.min(QbRequest.created_at),
            )
            .where(col(QbRequest.status).in_(waiting))
            .group_by(QbRequest.company_id, QbRequest.status)
        ).all()
    by_company: dict[str, tuple[int, int, datetime | None]] = {}
    for company_id, status, count, oldest in rows:
        pending, sent, first = by_company.get(company_id, (0, 0, None))
        if status == "pending":
            pending += count
        else:
            sent += count
        if oldest is not None:
            oldest = _aware(oldest)
            first = oldest if first is None or oldest < first else first
        by_company[company_id] = (pending, sent, first)
    return [QueueDepth(c, p, s, o) for c, (p, s, o) in sorted(by_company.items())]


def payment_states(engine: Engine, *, states: Iterable[str] | None = None) -> list[PaymentState]:
    """The latest settled (ok/held/failed) payment audit row of every payment, optionally only some states.

    A payment that was held and later posted by a person counts as posted: only its latest word counts.
    """
    wanted = set(states) if states is not None else set(PAYMENT_STATES.values())
    outcomes = [o for o, s in PAYMENT_STATES.items() if s in wanted]
    with Session(engine) as db:
        latest = _latest_settled_payment_rows()
        rows = db.exec(
            select(AuditEntry)
            .join(latest, col(AuditEntry.id) == latest.c.id)
            .where(col(AuditEntry.outcome).in_(outcomes))
            .order_by(col(AuditEntry.at).desc())
        ).all()
        for row in rows:
            db.expunge(row)
    return [PaymentState(r.company_id, r.stripe_object_id, PAYMENT_STATES[r.outcome], r) for r in rows]


def _latest_settled_payment_rows() -> Any:
    """The id of each payment's latest settled (ok/held/failed) audit row: the rule both readers share."""
    return (
        select(func.max(AuditEntry.id).label("id"))
        .where(
            col(AuditEntry.action).startswith(_PAYMENT_ACTION_PREFIX),
            col(AuditEntry.outcome).in_(list(PAYMENT_STATES)),
        )
        .group_by(AuditEntry.company_id, AuditEntry.stripe_object_id)
        .subquery()
    )


def payment_state_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """``{(company, state): payments}`` by each payment's latest settled audit row, counted by the database.

    The same rule as :func:`payment_states`, but as one aggregate query: no audit row is loaded into Python,
    so a scrape costs the same at a hundred payments as at a hundred thousand (the database walks the
    ``ix_audit_entry_payment_latest`` index).
    """
    with Session(engine) as db:
        latest = _latest_settled_payment_rows()
        rows = db.exec(
            select(AuditEntry.company_id, AuditEntry.outcome, func.count())
            .join(latest, col(AuditEntry.id) == latest.c.id)
            .group_by(AuditEntry.company_id, AuditEntry.outcome)
        ).all()
    return {(company, PAYMENT_STATES[outcome]): int(count) for company, outcome, count in rows}


class StateCollector(Collector):
    """Reads queue and payment state from the database at every scrape (see the module docstring)."""

    def __init__(self, engine: Engine, companies: Iterable[str] = ()) -> None:
        self.engine = engine
        self.companies = tuple(companies)

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        queued = GaugeMetricFamily(
            "mlc_qb_requests_queued",
            "qbXML requests waiting for the Web Connector (pending) or for QuickBooks' answer (sent).",
            labels=["company", "status"],
        )
        oldest = GaugeMetricFamily(
            "mlc_qb_oldest_request_age_seconds",
            "Age of the oldest unanswered qbXML request per company (0 when nothing waits).",
            labels=["company"],
        )
        depths = {d.company_id: d for d in queue_depths(self.engine)}
        for company in sorted(set(self.companies) | set(depths)):
            depth = depths.get(company, QueueDepth(company, 0, 0, None))
            queued.add_metric([company, "pending"], depth.pending)
            queued.add_metric([company, "sent"], depth.sent)
            oldest.add_metric([company], depth.oldest_age_seconds(now))
        yield queued
        yield oldest

        payments = GaugeMetricFamily(
            "mlc_payments",
            "Stripe payments by where they stand in QuickBooks: posted, waiting (for a person) or failed.",
            labels=["company", "state"],
        )
        counts: dict[tuple[str, str], int] = {}
        for company in self.companies:
            for state in PAYMENT_STATES.values():
                counts[(company, state)] = 0
        counts.update(payment_state_counts(self.engine))
        for (company, state), count in sorted(counts.items()):
            payments.add_metric([company, state], count)
        yield payments

        unsignalled = GaugeMetricFamily(
            "mlc_stripe_events_unsignalled",
            "Stored Stripe events not yet handed to their workflow (non-zero for long: Temporal is unreachable).",
        )
        unsignalled.add_metric([], unsignalled_events(self.engine))
        yield unsignalled

        contact = GaugeMetricFamily(
            "mlc_qbwc_last_contact_timestamp_seconds",
            "When the Web Connector last came for each company (Unix time; absent until its first visit). "
            "time() minus this is how long QuickBooks has not been reached.",
            labels=["company"],
        )
        for company, at in sorted(last_contacts(self.engine).items()):
            contact.add_metric([company], at.timestamp())
        yield contact

        yield from stripe_counters()


def last_contacts(engine: Engine) -> dict[str, datetime]:
    """Each company's last Web Connector contact, for those that had one."""
    with Session(engine) as db:
        rows = db.exec(
            select(Company.id, Company.last_contact_at).where(col(Company.last_contact_at).is_not(None))
        ).all()
    return {company: _aware(at) for company, at in rows if at is not None}


def stripe_counters() -> Iterator[Metric]:
    """The Stripe calls, retries and 429s of this process's tracked gateways."""
    requests = CounterMetricFamily(
        "mlc_stripe_requests", "Stripe API calls made by this process (each may take several attempts)."
    )
    retries = CounterMetricFamily("mlc_stripe_retries", "Stripe API attempts retried by this process.")
    limited = CounterMetricFamily(
        "mlc_stripe_rate_limited", "Stripe 429 (rate limited) responses seen by this process."
    )
    with _stripe_lock:
        gateways = list(_stripe_gateways)
    stats = [gw.stats().retry for gw in gateways]
    requests.add_metric([], sum(s.calls for s in stats))
    retries.add_metric([], sum(s.retries for s in stats))
    limited.add_metric([], sum(s.rate_limited for s in stats))
    yield requests
    yield retries
    yield limited


class ProcessCollector(Collector):
    """This process's counters only, no database state: what a worker's own ``/metrics`` serves
    (``ml_connector/worker_metrics.py``)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from stripe_counters()


def unsignalled_events(engine: Engine) -> int:
    with Session(engine) as db:
        return int(
            db.exec(
                select(func.count())
                .select_from(StripeEvent)
                .where(col(StripeEvent.signalled_at).is_(None), col(StripeEvent.workflow_id) != "")
            ).one()
        )


def render(engine: Engine, companies: Iterable[str] = ()) -> bytes:
    """The Prometheus text exposition: process counters plus the state read from the database now.

    Scrapes that arrive while one is being computed wait for it and share its answer, so however many
    scrapers there are, at most one set of aggregate queries runs at a time.
    """
    key = (id(engine), tuple(companies))
    with _render_lock:
        flight = _in_flight.get(key)
        leader = flight is None
        if flight is None:
            flight = _in_flight[key] = _Flight()
    if not leader:
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.body
    try:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Forward(REGISTRY))
        registry.register(StateCollector(engine, key[1]))
        flight.body = generate_latest(registry)
        return flight.body
    except Exception as exc:
        flight.error = exc
        raise
    finally:
        with _render_lock:
            _in_flight.pop(key, None)
        flight.done.set()


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    body: bytes = b""
    error: Exception | None = None


_render_lock = threading.Lock()
_in_flight: dict[tuple[int, tuple[str, ...]], _Flight] = {}


class _Forward(Collector):
    """Re-exports the process-wide counters inside a per-scrape registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

"""One Stripe rate limit for the whole account, shared by every process (gateways, workers, CLI).

Stripe counts requests per account, so a limiter per process lets two workers and a gateway go over together.
The shared limiter keeps the schedule in the database: one row per account and mode holds ``next_at``, the
earliest moment the account's next request may be sent (a generic cell-rate schedule: evenly spaced slots
``1/rate`` apart, no burst). Taking ``n`` slots is one atomic statement::

    start   = max(next_at, now)
    next_at = start + n / rate          -- the slots are start, start + 1/rate, …

and the caller sleeps until its slot. "now" is the database's clock, read inside the statement, and the
statement returns *seconds from now*, so processes on hosts whose clocks disagree still share one schedule.

Why the database and not Temporal's task-queue rate limit (``max_task_queue_activities_per_second``): that
limit paces activity *tasks*, while one customer-sync page makes about a hundred Stripe requests and the
gateway's reconciliation page calls Stripe outside any activity; one activity per request would cost more
Temporal round trips than the requests themselves.

Cost: processes coalesce. Within a process, callers queue locally and one of them (the leader) reserves slots
for everybody waiting in one statement, and always a tenth of a second's worth at least (``prefetch``): the
slots nobody is waiting for yet are banked, and callers that arrive while a banked slot is still ahead take it
without a database round trip. So a sync running at 100/s makes about ten round trips per second, not a
hundred, even when its callers arrive one at a time — without the bank, each lone caller cost one serialized
round trip, and on a busy host (threads waiting for the GIL after each round trip) that alone held a
PostgreSQL-backed sync to about 80 % of its limit (measured: bench/RESULTS.md). A banked slot whose time has
passed is dropped, never sent late, so requests are never bunched; a dropped slot can only lower the rate.

* **PostgreSQL**: the ``stripe_rate_slot`` table (migration 0005); the upsert locks the row for microseconds.
* **SQLite** (every process on one host): the same table in a small side file ``<database>-stripe-rate``,
  because the main file's write lock is held for long stretches by the queue and the sync (waits of seconds
  were measured, bench/RESULTS.md) and the limit must not wait behind them.
* An in-memory SQLite database (tests) cannot be shared: a per-process limiter at the same rate is used.

Slots are never given back: a caller that gives up (``max_wait``) leaves its slot unused, which can only lower
the rate, never raise it.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from ml_connector.stripe.ratelimit import (
    LIVE_RATE_PER_S,
    TEST_RATE_PER_S,
    LimiterStats,
    RateLimiter,
    RateLimitTimeout,
    key_mode,
)

# clock_timestamp(), not statement_timestamp(): under contention the update waits for the row lock, and "now"
# must be read after that wait (in the SET and RETURNING expressions, evaluated once the row is locked; the
# two readings are microseconds apart).
_PG_RESERVE = text(
    """
    INSERT INTO stripe_rate_slot (account, next_at)
    VALUES (:account, CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION) + :span)
    ON CONFLICT (account) DO UPDATE SET next_at = GREATEST(
        stripe_rate_slot.next_at, CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)
    ) + :span
    RETURNING next_at - :span - CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)
    """
)

# julianday('now') is fixed for the whole statement (millisecond precision); 2440587.5 is the Unix epoch.
_SQLITE_RESERVE = text(
    """
    INSERT INTO stripe_rate_slot (account, next_at)
    VALUES (:account, (julianday('now') - 2440587.5) * 86400.0 + :span)
    ON CONFLICT (account) DO UPDATE
    SET next_at = max(stripe_rate_slot.next_at, (julianday('now') - 2440587.5) * 86400.0) + :span
    RETURNING next_at - :span - (julianday('now') - 2440587.5) * 86400.0
    """
)
_SQLITE_CREATE = (
    "CREATE TABLE IF NOT EXISTS stripe_rate_slot (account VARCHAR(80) PRIMARY KEY, next_at FLOAT NOT NULL)"
)


class SlotStore(Protocol):
    def reserve(self, account: str, count: int, interval: float) -> float:
        """Take ``count`` consecutive slots ``interval`` apart; seconds from now until the first one."""
        ...


class SqlSlotStore:
    """The schedule row in a PostgreSQL or SQLite database reached through ``engine``."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"no shared Stripe rate limit for {engine.dialect.name}")
        self.engine = engine
        self._statement = _PG_RESERVE if engine.dialect.name == "postgresql" else _SQLITE_RESERVE

    def reserve(self, account: str, count: int, interval: float) -> float:
        with self.engine.begin() as connection:
            delay = connection.execute(
                self._statement, {"account": account, "span": count * interval}
            ).scalar_one()
        return float(delay)


def sqlite_side_engine(database: Path) -> Engine:
    """The side file beside a SQLite database that holds the schedule (created on first use).

    Each reservation is one autocommit statement (SQLite's own write transaction, a few microseconds); the
    data is disposable, so nothing is synced to disk.
    """
    from ml_connector.storage.engine import private_file, sqlite_pragmas

    path = database.with_name(database.name + "-stripe-rate")
    private_file(path)
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": 10, "check_same_thread": False},
        isolation_level="AUTOCOMMIT",
    )

    sqlite_pragmas(engine, "busy_timeout=10000", "journal_mode=WAL", "synchronous=OFF")

    with engine.begin() as connection:
        connection.exec_driver_sql(_SQLITE_CREATE)
    return engine


# How long a caller waits for someone to reserve its slot before it reserves itself (a reservation is one
# database round trip; only a leader whose thread was interrupted leaves the line waiting this long).
LEAD_TIMEOUT_SECONDS = 5.0


class RateLimitInterrupted(RuntimeError):
    """The caller reserving a batch of slots was interrupted before it had them: the request is not sent and
    fails as retryable (Temporal retries the activity)."""


@dataclass
class _Ticket:
    wake: threading.Event = field(default_factory=threading.Event)
    at: float | None = None  # the slot, on this process's monotonic clock
    error: BaseException | None = None


class SharedRateLimiter:
    """Paces this process's Stripe requests on the account-wide schedule in a :class:`SlotStore`.

    Same interface as :class:`~ml_connector.stripe.ratelimit.RateLimiter` (``acquire``, ``acquire_async``,
    ``stats``, ``rate_per_s``). Callers are served in arrival order within the process.
    """

    def __init__(
        self,
        store: SlotStore,
        account: str,
        rate_per_s: float,
        *,
        max_batch: int | None = None,
        prefetch: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        lead_timeout: float = LEAD_TIMEOUT_SECONDS,
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError("rate_per_s must be positive")
        self.store = store
        self.account = account
        self.rate_per_s = float(rate_per_s)
        self.interval = 1.0 / self.rate_per_s
        self.max_batch = max_batch if max_batch is not None else max(1, int(self.rate_per_s // 10))
        if self.max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        # Slots reserved per round trip at least; the ones nobody waits for yet are banked (0: no bank).
        self.prefetch = self.max_batch if prefetch is None else prefetch
        self._clock = clock
        self._sleep = sleep
        self._lead_timeout = lead_timeout
        self._lock = threading.Lock()
        self._waiting: deque[_Ticket] = deque()
        self._leading = False
        self._acquired = 0
        self._waited = 0
        self._waited_seconds = 0.0
        self._reservations = 0
        self._bank: deque[float] = deque()  # reserved slots nobody has taken yet, earliest first
        self._dropped = 0

    def acquire(self, max_wait: float | None = None) -> float:
        """Block until this request's slot; returns the seconds slept. With ``max_wait``, raise
        :class:`RateLimitTimeout` instead of sleeping longer (the slot then goes unused)."""
        ticket = _Ticket()
        with self._lock:
            ticket.at = self._take_banked()
            if ticket.at is None:
                self._waiting.append(ticket)
                if not self._leading:
                    self._leading = True
                    ticket.wake.set()  # nobody is reserving: this caller does
        while ticket.at is None:
            if not ticket.wake.wait(self._lead_timeout):
                # Nobody reserved for this caller in all that time: the lead was lost (its holder's thread
                # was interrupted, e.g. an activity cancelled in its thread). Take it; a second reservation
                # running beside a slow one is safe, the schedule hands each its own slots.
                with self._lock:
                    still_waiting = ticket in self._waiting
                if still_waiting:
                    self._reserve_for_waiting()
                continue
            if ticket.at is not None or ticket.error is not None:
                break
            ticket.wake.clear()
            self._reserve_for_waiting()
        if ticket.error is not None:
            raise ticket.error
        assert ticket.at is not None
        wait = max(0.0, ticket.at - self._clock())
        if max_wait is not None and wait > max_wait:
            raise RateLimitTimeout(f"next Stripe request slot is {wait:.3f}s away (max_wait {max_wait}s)")
        with self._lock:
            self._acquired += 1
            if wait > 0:
                self._waited += 1
                self._waited_seconds += wait
        if wait > 0:
            self._sleep(wait)
        return wait

    async def acquire_async(self, max_wait: float | None = None) -> float:
        """As :meth:`acquire`, on a worker thread so the event loop keeps running."""
        return await asyncio.to_thread(self.acquire, max_wait)

    def _take_banked(self) -> float | None:
        """The earliest banked slot still ahead (called under the lock); slots already past are dropped."""
        now = self._clock()
        while self._bank and self._bank[0] < now:
            self._bank.popleft()
            self._dropped += 1
        return self._bank.popleft() if self._bank else None

    def _reserve_for_waiting(self) -> None:
        """Run by the leader, whose ticket is first in line: one reservation for up to ``max_batch`` waiting
        callers (``prefetch`` slots at least, the rest banked), then the lead passes to the next caller in
        line (if any)."""
        with self._lock:
            batch = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
        count = max(len(batch), self.prefetch) if batch else 0
        try:
            delay = self.store.reserve(self.account, count, self.interval)
            first = self._clock() + delay
            for i, ticket in enumerate(batch):
                ticket.at = first + i * self.interval
            if count > len(batch):
                banked = [first + i * self.interval for i in range(len(batch), count)]
                with self._lock:
                    self._bank = deque(sorted([*self._bank, *banked]))
        except Exception as exc:  # the database is unreachable: every caller of this batch sees it
            for ticket in batch:
                ticket.error = exc
        finally:  # even when this thread is interrupted: nobody of the batch, nobody in line, is left waiting
            for ticket in batch:
                if ticket.at is None and ticket.error is None:
                    ticket.error = RateLimitInterrupted("the thread reserving this Stripe slot was interrupted")
            with self._lock:
                self._reservations += 1
                if self._waiting:
                    self._waiting[0].wake.set()
                else:
                    self._leading = False
            for ticket in batch:
                ticket.wake.set()

    def stats(self) -> LimiterStats:
        with self._lock:
            return LimiterStats(self._acquired, self._waited, self._waited_seconds)

    @property
    def reservations(self) -> int:
        """Database round trips so far (each served one or more callers)."""
        with self._lock:
            return self._reservations

    @property
    def dropped(self) -> int:
        """Banked slots whose time passed with nobody to take them (each lowered the rate, never raised it)."""
        with self._lock:
            return self._dropped


def account_key(api_key: str, account_id: str = "") -> str:
    """The schedule row's key: mode and account (``acct_…`` when configured, else a digest of the API key;
    never the key itself). Test and live mode have separate limits at Stripe, so they have separate rows."""
    mode = key_mode(api_key)
    who = account_id or "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:24]
    return f"{mode}:{who}"


def default_rate(api_key: str, override: float | None = None) -> float:
    """``override`` (``MLC_STRIPE_RATE_LIMIT``) or Stripe's documented limit for the key's mode: 25/s for
    test-mode keys (``sk_test_``/``rk_test_``), 100/s for live ones."""
    if override is not None:
        return override
    return LIVE_RATE_PER_S if key_mode(api_key) == "live" else TEST_RATE_PER_S


_stores: dict[str, SqlSlotStore] = {}
_limiters: dict[tuple[str, str, float], SharedRateLimiter | RateLimiter] = {}
_registry_lock = threading.Lock()


def _store_for(database_url: str) -> SqlSlotStore | None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        engine = sqlite_side_engine(Path(database))
    else:
        engine = create_engine(url, pool_size=1, max_overflow=2, pool_pre_ping=True)
    return SqlSlotStore(engine)


def limiter_for(
    database_url: str, api_key: str, *, rate_per_s: float | None = None, account_id: str = ""
) -> SharedRateLimiter | RateLimiter:
    """This process's one limiter for the account (made once, then shared by every caller in the process)."""
    rate = default_rate(api_key, rate_per_s)
    account = account_key(api_key, account_id)
    key = (database_url, account, rate)
    with _registry_lock:
        found = _limiters.get(key)
        if found is not None:
            return found
        if database_url not in _stores:
            store = _store_for(database_url)
            if store is None:
                limiter: SharedRateLimiter | RateLimiter = RateLimiter(rate, burst=1)
                _limiters[key] = limiter
                return limiter
            _stores[database_url] = store
        limiter = SharedRateLimiter(_stores[database_url], account, rate)
        _limiters[key] = limiter
        return limiter

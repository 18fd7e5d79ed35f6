"""A token bucket in front of every Stripe request (per process; the account-wide one is shared_limit.py).

Why pace ourselves when Stripe answers 429 anyway: a backfill (thousands of customers, a month of payments)
would otherwise run straight into the limit, and every 429 costs a round trip plus a backoff, while the same
account's live traffic (the webhook-driven payment workflows, the merchant's own systems) is refused too.
Pacing below the documented limit keeps 429s rare; the retry policy handles the rest.

Stripe documents 100 operations per second in live mode and 25 in test mode (sandboxes); the mode is read
from the API key prefix (``sk_live_``/``rk_live_`` vs ``sk_test_``/``rk_test_``).

The bucket *reserves* a token for each caller under a lock and tells it how long to wait, so callers are
served in arrival order, the waiting happens outside the lock, and the same bucket serves threads and
coroutines alike. Clock and sleeps are injectable so tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

Mode = Literal["test", "live"]

LIVE_RATE_PER_S: Final = 100.0
TEST_RATE_PER_S: Final = 25.0

_KEY_PREFIXES: Final[dict[str, Mode]] = {
    "sk_test_": "test",
    "rk_test_": "test",
    "sk_live_": "live",
    "rk_live_": "live",
}


def key_mode(api_key: str) -> Mode:
    """``"test"`` or ``"live"`` from a secret or restricted key. The error never repeats the key."""
    for prefix, mode in _KEY_PREFIXES.items():
        if api_key.startswith(prefix) and len(api_key) > len(prefix):
            return mode
    raise ValueError("Stripe API key must be a secret or restricted key: sk_test_/sk_live_/rk_test_/rk_live_")


class RateLimitTimeout(Exception):
    """The wait for a token would exceed the caller's ``max_wait``; no token was taken."""


@dataclass(frozen=True)
class LimiterStats:
    acquired: int
    waited: int  # acquisitions that had to wait
    waited_seconds: float


class Limiter(Protocol):
    """What :class:`~ml_connector.stripe.client.StripeGateway` needs: this per-process bucket or the
    account-wide :class:`~ml_connector.stripe.shared_limit.SharedRateLimiter`."""

    rate_per_s: float

    def acquire(self, max_wait: float | None = None) -> float: ...

    async def acquire_async(self, max_wait: float | None = None) -> float: ...

    def stats(self) -> LimiterStats: ...


class RateLimiter:
    """Token bucket: at most ``burst`` tokens, refilled at ``rate_per_s``. Thread-safe, asyncio-friendly."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError("rate_per_s must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_s = float(rate_per_s)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()
        self._acquired = 0
        self._waited = 0
        self._waited_seconds = 0.0

    def _reserve(self, max_wait: float | None) -> float:
        """Take one token (possibly going into debt) and return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
            wait = max(0.0, (1.0 - self._tokens) / self.rate_per_s)
            if max_wait is not None and wait > max_wait:
                raise RateLimitTimeout(f"next Stripe request slot is {wait:.3f}s away (max_wait {max_wait}s)")
            self._tokens -= 1.0
            self._acquired += 1
            if wait > 0:
                self._waited += 1
                self._waited_seconds += wait
            return wait

    def acquire(self, max_wait: float | None = None) -> float:
        """Block until a request may be sent; returns the seconds waited.

        With ``max_wait``, raise :class:`RateLimitTimeout` (taking no token) rather than wait longer than
        that, for callers whose own deadline is nearer than the next free slot.
        """
        wait = self._reserve(max_wait)
        if wait > 0:
            self._sleep(wait)
        return wait

    async def acquire_async(self, max_wait: float | None = None) -> float:
        """As :meth:`acquire`, but yields to the event loop while waiting."""
        wait = self._reserve(max_wait)
        if wait > 0:
            await self._async_sleep(wait)
        return wait

    def stats(self) -> LimiterStats:
        with self._lock:
            return LimiterStats(self._acquired, self._waited, self._waited_seconds)


def for_mode(
    live: bool,
    override: float | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RateLimiter:
    """A limiter at Stripe's documented rate for the mode, or at ``override`` ops/s.

    The burst is a tenth of a second's worth of requests. Any one-second window sees at most
    ``rate + burst`` requests from a bucket, so a burst of a full second would let twice the limit through at
    start-up; a tenth keeps the worst case near the limit while still letting a short flurry go at once.
    """
    rate = override if override is not None else (LIVE_RATE_PER_S if live else TEST_RATE_PER_S)
    return RateLimiter(rate, max(1, int(rate // 10)), clock=clock, sleep=sleep, async_sleep=async_sleep)


def for_api_key(api_key: str, override: float | None = None) -> RateLimiter:
    """:func:`for_mode` for the mode the key is in (``sk_live_``/``rk_live_`` are live), with real clocks;
    tests that need a fake clock call :func:`for_mode` directly."""
    return for_mode(key_mode(api_key) == "live", override)

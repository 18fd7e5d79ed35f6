"""The one way the connector talks to Stripe: an SDK client behind a shared rate limiter and retry policy.

Why a wrapper at all, when ``stripe.StripeClient`` already retries: the SDK's retries are invisible (no counts
for the benchmark or the dashboards), unpaced (no process-wide limiter) and regenerate nothing we control.
:class:`StripeGateway` turns them off (``max_network_retries=0``) and runs every call as
"acquire a rate-limit token, send, classify the failure, back off" so that pacing, retries and their counters
live in one place. Calls are written against the SDK's own typed services:

    gw.call(lambda c: c.v1.customers.create(params, options={"idempotency_key": k}))

Every write must pass a key from ``idempotency.key``: the gateway re-sends the same request on a retryable
failure, and only a deterministic key makes that (and a re-run activity) safe.

The API key never leaves the SDK: it is hidden from ``repr``, never logged, and refused over plain HTTP to
anything but a local test server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import stripe

from ml_connector.stripe.ratelimit import Limiter, LimiterStats, Mode, for_mode, key_mode
from ml_connector.stripe.retry import RetryPolicy, RetryStats

T = TypeVar("T")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class StripeSettings:
    """How to reach Stripe. ``api_base`` points the client elsewhere (a Stripe-compatible server on 127.0.0.1
    in tests and the sandbox); ``rate_per_s`` overrides the documented per-mode limit."""

    api_key: str = field(repr=False)
    api_base: str | None = None
    rate_per_s: float | None = None
    max_attempts: int = 4

    def __post_init__(self) -> None:
        mode = key_mode(self.api_key)  # validates the prefix without echoing the key
        if self.rate_per_s is not None and not self.rate_per_s > 0:
            raise ValueError("rate_per_s must be positive")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.api_base is not None:
            parts = urlsplit(self.api_base)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("api_base must be an http(s) URL")
            if parts.scheme == "http" and (mode == "live" or not _is_loopback(parts.hostname)):
                raise ValueError("plain-http api_base is allowed only for a test-mode key on loopback")

    @property
    def mode(self) -> Mode:
        return key_mode(self.api_key)


def make_client(settings: StripeSettings) -> stripe.StripeClient:
    """A ``StripeClient`` whose own network retries are off: :class:`StripeGateway` owns retries."""
    if settings.api_base is not None:
        return stripe.StripeClient(
            settings.api_key,
            base_addresses={"api": settings.api_base.rstrip("/")},
            max_network_retries=0,
        )
    return stripe.StripeClient(settings.api_key, max_network_retries=0)


@dataclass(frozen=True)
class GatewayStats:
    limiter: LimiterStats
    retry: RetryStats


class StripeGateway:
    """Every Stripe call of a process goes through one of these: rate limit, then send, then retry policy.

    Each *attempt* takes a limiter token, since a retry is another request against Stripe's limit.
    """

    def __init__(self, client: stripe.StripeClient, *, mode: Mode, limiter: Limiter, retry: RetryPolicy):
        self._client = client
        self._mode: Mode = mode
        self.limiter = limiter
        self.retry = retry

    @classmethod
    def from_settings(
        cls,
        settings: StripeSettings,
        *,
        limiter: Limiter | None = None,
        retry: RetryPolicy | None = None,
    ) -> StripeGateway:
        return cls(
            make_client(settings),
            mode=settings.mode,
            limiter=limiter or for_mode(settings.mode == "live", settings.rate_per_s),
            retry=retry or RetryPolicy(settings.max_attempts),
        )

    @property
    def mode(self) -> Mode:
        return self._mode

    def call(self, operation: Callable[[stripe.StripeClient], T]) -> T:
        """Run ``operation(client)`` paced and retried; raises the SDK's typed error when it gives up."""

        def attempt() -> T:
            self.limiter.acquire()
            return operation(self._client)

        return self.retry.call(attempt)

    async def call_async(self, operation: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        """As :meth:`call` for the SDK's ``*_async`` methods."""

        async def attempt() -> T:
            await self.limiter.acquire_async()
            return await operation(self._client)

        return await self.retry.call_async(attempt)

    def stats(self) -> GatewayStats:
        return GatewayStats(self.limiter.stats(), self.retry.stats())

    def __repr__(self) -> str:
        return f"StripeGateway(mode={self._mode!r}, rate_per_s={self.limiter.rate_per_s})"

"""When and how long to retry a failed Stripe request: one policy object instead of loops in every caller.

The rules follow Stripe's own guidance and stripe-python's ``HTTPClient._should_retry``, with our own
adjustments, and :func:`classify` is the single place that states them:

* Never retried, whatever the headers say: ``idempotency_error`` (the key was used with other parameters;
  retrying cannot help and would hide a bug in key derivation), card declines (402), invalid requests
  (400/404), authentication and permission errors. Those are answers, not failures.
* ``Stripe-Should-Retry: false`` -> not retried (Stripe knows the retry would be a no-op or harmful);
  ``true`` -> retried whatever the status (e.g. a 409 lock timeout).
* Otherwise retried: 429, 500/502/503/504, connection errors the SDK marks retryable (timeouts, resets), and
  the transient conflicts ``lock_timeout`` / ``idempotency_key_in_use`` (another attempt with the same key is
  still running; a later retry replays its result).

Delays are exponential with *full* jitter (uniform in ``[0, min(max_delay, initial * 2**n)]``) so that many
workers hitting the same 429 do not come back in lockstep, and a ``Retry-After`` header raises the delay to
at least what Stripe asked for. A ``Retry-After`` longer than ``max_retry_after`` ends the call instead: the
caller (a Temporal activity) has its own, longer-lived retry schedule for that.

Retrying a POST is safe only because every write carries a deterministic idempotency key (see
``idempotency.py``); the SDK's own retries are switched off (``max_network_retries=0``) so that retries are
counted and paced in one place.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final, ParamSpec, TypeVar

import stripe

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
TRANSIENT_CODES: Final = frozenset({"lock_timeout", "idempotency_key_in_use"})
_NEVER_RETRIED: Final = (
    stripe.IdempotencyError,
    stripe.CardError,
    stripe.InvalidRequestError,
    stripe.AuthenticationError,
    stripe.PermissionError,
)


@dataclass(frozen=True)
class RetryVerdict:
    retry: bool
    reason: str  # a slug, usable as a metrics label
    retry_after: float | None = None
    rate_limited: bool = False


@dataclass(frozen=True)
class RetryStats:
    calls: int
    retries: int
    rate_limited: int  # 429 responses seen, retried or not
    gave_up: int  # calls that ended on a retryable error (attempts or patience exhausted)
    slept_seconds: float


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive lookup over whatever header mapping the SDK's HTTP client produced."""
    if not isinstance(headers, Mapping) and not hasattr(headers, "items"):
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return str(value).strip()
    return None


def _error_field(exc: stripe.StripeError, name: str) -> str | None:
    body = exc.json_body
    error = body.get("error") if isinstance(body, Mapping) else None
    value = error.get(name) if isinstance(error, Mapping) else None
    return value if isinstance(value, str) else None


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if seconds == seconds else None  # NaN guard


def classify(exc: BaseException) -> RetryVerdict:
    """Should the request that raised ``exc`` be sent again? Pure apart from reading the exception."""
    if not isinstance(exc, stripe.StripeError):
        return RetryVerdict(False, "not_a_stripe_error")
    status = exc.http_status
    code = exc.code or _error_field(exc, "code")
    if isinstance(exc, stripe.IdempotencyError) or _error_field(exc, "type") == "idempotency_error":
        return RetryVerdict(False, "idempotency_error")
    rate_limited = status == 429 or isinstance(exc, stripe.RateLimitError)
    if isinstance(exc, _NEVER_RETRIED):
        return RetryVerdict(False, f"client_error_{status}" if status else "client_error", None, rate_limited)
    retry_after = _retry_after_seconds(_header(exc.headers, "Retry-After"))
    should_retry = (_header(exc.headers, "Stripe-Should-Retry") or "").lower()
    if should_retry == "false":
        return RetryVerdict(False, "stripe_should_retry_false", None, rate_limited)
    if should_retry == "true":
        return RetryVerdict(True, "stripe_should_retry_true", retry_after, rate_limited)
    if isinstance(exc, stripe.APIConnectionError) and status is None:
        return RetryVerdict(bool(exc.should_retry), "connection_error")
    if rate_limited:
        return RetryVerdict(True, "rate_limited", retry_after, True)
    if status in RETRYABLE_STATUSES:
        return RetryVerdict(True, f"server_error_{status}", retry_after)
    if code in TRANSIENT_CODES:
        return RetryVerdict(True, code, retry_after)
    return RetryVerdict(False, f"status_{status}" if status else "not_retryable")


class RetryPolicy:
    """Runs a Stripe call, retrying per :func:`classify` with full-jitter exponential backoff.

    ``max_attempts`` counts the first try. Thread-safe; one instance is shared by a process's gateway so its
    counters describe the whole process.
    """

    def __init__(
        self,
        max_attempts: int = 4,
        *,
        initial_delay: float = 0.5,
        max_delay: float = 8.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if initial_delay <= 0 or max_delay < initial_delay:
            raise ValueError("need 0 < initial_delay <= max_delay")
        self.max_attempts = max_attempts
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._rng = rng or random.Random()  # jitter, not cryptography
        self._lock = threading.Lock()
        self._calls = 0
        self._retries = 0
        self._rate_limited = 0
        self._gave_up = 0
        self._slept = 0.0

    def backoff(self, retry_number: int, retry_after: float | None = None) -> float:
        """Delay before retry ``retry_number`` (1-based): full jitter, never shorter than ``retry_after``."""
        ceiling = min(self.max_delay, self.initial_delay * 2 ** (retry_number - 1))
        with self._lock:
            delay = self._rng.uniform(0.0, ceiling)
        return max(delay, retry_after) if retry_after is not None else delay

    def _after_failure(self, exc: BaseException, attempt: int) -> float | None:
        """Book-keeping for a failed attempt; the delay before the next one, or ``None`` to re-raise."""
        verdict = classify(exc)
        with self._lock:
            if verdict.rate_limited:
                self._rate_limited += 1
        if not verdict.retry:
            return None
        too_long = verdict.retry_after is not None and verdict.retry_after > self.max_retry_after
        if attempt >= self.max_attempts or too_long:
            with self._lock:
                self._gave_up += 1
            log.warning(
                "Stripe request failed for good after %d attempt(s): %s (request %s)",
                attempt,
                verdict.reason,
                getattr(exc, "request_id", None),
            )
            return None
        delay = self.backoff(attempt, verdict.retry_after)
        with self._lock:
            self._retries += 1
            self._slept += delay
        log.info(
            "Retrying Stripe request in %.2fs (attempt %d of %d): %s (request %s)",
            delay,
            attempt + 1,
            self.max_attempts,
            verdict.reason,
            getattr(exc, "request_id", None),
        )
        return delay

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock:
            self._calls += 1
        attempt = 1
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                delay = self._after_failure(exc, attempt)
                if delay is None:
                    raise
            self._sleep(delay)
            attempt += 1

    async def call_async(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock:
            self._calls += 1
        attempt = 1
        while True:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                delay = self._after_failure(exc, attempt)
                if delay is None:
                    raise
            await self._async_sleep(delay)
            attempt += 1

    def stats(self) -> RetryStats:
        with self._lock:
            return RetryStats(self._calls, self._retries, self._rate_limited, self._gave_up, self._slept)

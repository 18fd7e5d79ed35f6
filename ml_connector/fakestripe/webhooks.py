"""Webhook delivery: sign each event like Stripe and POST it to every subscribed endpoint.

Signing (independent of the rest of the project on purpose, so the SDK's verifier is a real
cross-check): ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``, computed over
the exact bytes sent, with a fresh timestamp per attempt.

Delivery runs on one background thread. A delivery fails on a non-2xx answer or a connection error
and is retried with exponential backoff up to ``max_attempts``. For tests it can misbehave the way
Stripe is allowed to: deliver an event more than once (``duplicates``: the chance of each of up to two
extra copies) and out of order (``shuffle``: pick the next ready delivery at random from a seeded
generator). ``pause``/``resume`` hold deliveries back; ``flush`` waits until nothing is left to send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx

from ml_connector.fakestripe.store import EndpointTarget, Obj

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
MAX_COPIES = 3


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class DeliveryConfig:
    duplicates: float = 0.0
    shuffle: bool = False
    seed: int | None = None
    max_attempts: int = 4
    backoff_seconds: float = 0.05
    timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.duplicates <= 1.0:
            raise ValueError("duplicates is a probability between 0 and 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_seconds < 0 or self.timeout_seconds <= 0:
            raise ValueError("backoff_seconds must be >= 0 and timeout_seconds > 0")


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST to an endpoint, for tests to inspect (``/_fake/webhooks/attempts``)."""

    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    succeeded: bool


@dataclass
class _Job:
    event_id: str
    event_type: str
    body: bytes
    target: EndpointTarget
    attempt: int = 1
    not_before: float = field(default_factory=time.monotonic)


class WebhookDispatcher:
    def __init__(self, on_delivered: Callable[[str], None], config: DeliveryConfig | None = None) -> None:
        self._on_delivered = on_delivered
        self._config = config or DeliveryConfig()
        self._rng = random.Random(self._config.seed)  # noqa: S311 - test behaviour, not security
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._in_flight = 0
        self._paused = False
        self._closed = False
        self._attempts: list[DeliveryAttempt] = []
        self._acknowledged: set[tuple[str, str]] = set()
        self._thread: threading.Thread | None = None

    # -- the store's event sink -----------------------------------------------------------------

    def enqueue(self, event: Obj, targets: list[EndpointTarget]) -> None:
        if not targets:
            return
        body = json.dumps(event, indent=2).encode("utf-8")
        with self._cond:
            for target in targets:
                copies = 1 + sum(
                    1 for _ in range(MAX_COPIES - 1) if self._rng.random() < self._config.duplicates
                )
                for _ in range(copies):
                    self._jobs.append(_Job(event["id"], event["type"], body, target))
            self._ensure_thread()
            self._cond.notify_all()

    # -- controls -------------------------------------------------------------------------------

    @property
    def config(self) -> DeliveryConfig:
        with self._cond:
            return self._config

    def configure(self, **changes: object) -> DeliveryConfig:
        with self._cond:
            self._config = replace(self._config, **changes)  # type: ignore[arg-type]
            self._rng = random.Random(self._config.seed)  # noqa: S311
            return self._config

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs) + self._in_flight

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery (retries included) is done; False on timeout or if paused."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._paused and not self._in_flight):
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def attempts(self) -> list[DeliveryAttempt]:
        with self._cond:
            return list(self._attempts)

    def reset(self) -> None:
        with self._cond:
            self._jobs.clear()
            self._attempts.clear()
            self._acknowledged.clear()
            self._paused = False
            self._config = DeliveryConfig()
            self._rng = random.Random(None)  # noqa: S311
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    # -- the delivery thread --------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="fakestripe-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with httpx.Client() as client:
            while True:
                job = self._next_job()
                if job is None:
                    return
                self._deliver(client, job)

    def _next_job(self) -> _Job | None:
        with self._cond:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                ready = [job for job in self._jobs if job.not_before <= now] if not self._paused else []
                if ready:
                    job = self._rng.choice(ready) if self._config.shuffle else ready[0]
                    self._jobs.remove(job)
                    self._in_flight += 1
                    return job
                waits = [job.not_before - now for job in self._jobs if job.not_before > now]
                self._cond.wait(min(waits) if waits and not self._paused else 0.5)

    def _deliver(self, client: httpx.Client, job: _Job) -> None:
        config = self.config
        status: int | None = None
        error: str | None = None
        try:
            response = client.post(
                job.target.url,
                content=job.body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": USER_AGENT,
                    "Cache-Control": "no-cache",
                    "Stripe-Signature": signature_header(job.body, job.target.secret, int(time.time())),
                },
                timeout=config.timeout_seconds,
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        succeeded = status is not None and 200 <= status < 300
        first_ack = False
        with self._cond:
            self._attempts.append(DeliveryAttempt(
                job.event_id, job.event_type, job.target.endpoint_id, job.target.url, job.attempt, status,
                error, succeeded,
            ))
            key = (job.event_id, job.target.endpoint_id)
            if succeeded and key not in self._acknowledged:
                self._acknowledged.add(key)
                first_ack = True
            elif not succeeded and job.attempt < config.max_attempts and not self._closed:
                delay = config.backoff_seconds * (2 ** (job.attempt - 1))
                self._jobs.append(replace(job, attempt=job.attempt + 1, not_before=time.monotonic() + delay))
        if first_ack:
            self._on_delivered(job.event_id)  # takes the store lock; never while holding ours
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

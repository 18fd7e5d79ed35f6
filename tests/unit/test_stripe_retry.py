"""The retry policy on its own: which Stripe failures are retried, how long it waits, what it counts."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import stripe

from ml_connector.stripe.retry import RetryPolicy, classify


def err(
    cls: type[stripe.StripeError], status: int, headers: dict[str, str] | None = None, **error: Any
) -> Any:
    body = {"error": {"message": "boom", **error}}
    if cls in (stripe.CardError, stripe.InvalidRequestError):
        return cls("boom", error.get("param"), error.get("code"), None, status, body, headers)  # type: ignore[call-arg]
    return cls("boom", None, status, body, headers)


@pytest.mark.parametrize(
    ("exc", "retry", "reason"),
    [
        (
            err(stripe.RateLimitError, 429, type="invalid_request_error", code="rate_limit"),
            True,
            "rate_limited",
        ),
        (err(stripe.APIError, 500, type="api_error"), True, "server_error_500"),
        (err(stripe.APIError, 502), True, "server_error_502"),
        (err(stripe.APIError, 503), True, "server_error_503"),
        (err(stripe.APIError, 504), True, "server_error_504"),
        (err(stripe.APIError, 501), False, "status_501"),
        (err(stripe.APIError, 409, code="lock_timeout"), True, "lock_timeout"),
        (err(stripe.APIError, 409, code="idempotency_key_in_use"), True, "idempotency_key_in_use"),
        (err(stripe.APIError, 409, code="resource_already_exists"), False, "status_409"),
        (err(stripe.IdempotencyError, 400, type="idempotency_error"), False, "idempotency_error"),
        (err(stripe.CardError, 402, type="card_error", code="card_declined"), False, "client_error_402"),
        (err(stripe.InvalidRequestError, 400, code="parameter_missing"), False, "client_error_400"),
        (err(stripe.InvalidRequestError, 404, code="resource_missing"), False, "client_error_404"),
        (err(stripe.AuthenticationError, 401), False, "client_error_401"),
        (stripe.APIConnectionError("reset", should_retry=True), True, "connection_error"),
        (stripe.APIConnectionError("bad TLS", should_retry=False), False, "connection_error"),
        (ValueError("our bug"), False, "not_a_stripe_error"),
    ],
)
def test_which_failures_are_retried(exc: BaseException, retry: bool, reason: str) -> None:
    verdict = classify(exc)
    assert (verdict.retry, verdict.reason) == (retry, reason)


def test_stripe_should_retry_false_wins_over_a_retryable_status() -> None:
    verdict = classify(err(stripe.APIError, 503, {"Stripe-Should-Retry": "false"}))
    assert (verdict.retry, verdict.reason) == (False, "stripe_should_retry_false")


def test_stripe_should_retry_true_makes_other_statuses_retryable() -> None:
    verdict = classify(err(stripe.APIError, 409, {"stripe-should-retry": "true"}, code="some_conflict"))
    assert (verdict.retry, verdict.reason) == (True, "stripe_should_retry_true")


def test_an_idempotency_error_is_never_retried_even_if_stripe_says_so() -> None:
    exc = err(stripe.IdempotencyError, 400, {"Stripe-Should-Retry": "true"}, type="idempotency_error")
    assert classify(exc).retry is False


def test_an_idempotency_error_arriving_as_a_plain_api_error_is_still_recognised() -> None:
    assert classify(err(stripe.APIError, 400, type="idempotency_error")).reason == "idempotency_error"


def test_retry_after_in_seconds_or_as_a_date_is_read() -> None:
    assert classify(err(stripe.RateLimitError, 429, {"Retry-After": "7"})).retry_after == 7.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = classify(err(stripe.APIError, 503, {"retry-after": when})).retry_after
    assert seconds is not None and 25 <= seconds <= 31
    assert classify(err(stripe.APIError, 503, {"Retry-After": "soon"})).retry_after is None


class Flaky:
    """Fails with the given exceptions in order, then returns 'ok'."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_backoff_grows_exponentially_with_full_jitter_under_the_cap() -> None:
    policy = RetryPolicy(10, initial_delay=0.5, max_delay=4.0, rng=random.Random(1))
    for n, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        samples = [policy.backoff(n) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # the whole range is used, not just the top
        assert min(samples) < ceiling * 0.2


def test_a_retry_after_is_a_floor_on_the_delay() -> None:
    policy = RetryPolicy(rng=random.Random(1))
    assert all(policy.backoff(1, retry_after=3.0) >= 3.0 for _ in range(50))


def test_retryable_failures_are_retried_then_the_result_is_returned() -> None:
    slept: list[float] = []
    policy = RetryPolicy(4, sleep=slept.append, rng=random.Random(3))
    fn = Flaky(err(stripe.RateLimitError, 429), err(stripe.APIError, 500))
    assert policy.call(fn, "a", key="b") == "ok"
    assert fn.calls == 3
    assert len(slept) == 2
    stats = policy.stats()
    assert (stats.calls, stats.retries, stats.rate_limited, stats.gave_up) == (1, 2, 1, 0)
    assert stats.slept_seconds == pytest.approx(sum(slept))


def test_the_policy_gives_up_after_max_attempts_with_the_last_error() -> None:
    slept: list[float] = []
    policy = RetryPolicy(3, sleep=slept.append)
    last = err(stripe.APIError, 503)
    fn = Flaky(err(stripe.APIError, 500), err(stripe.APIError, 502), last, err(stripe.APIError, 504))
    with pytest.raises(stripe.APIError) as caught:
        policy.call(fn)
    assert caught.value is last
    assert fn.calls == 3 and len(slept) == 2
    assert policy.stats().gave_up == 1


def test_a_retry_after_beyond_our_patience_ends_the_call_at_once() -> None:
    slept: list[float] = []
    policy = RetryPolicy(5, max_retry_after=10, sleep=slept.append)
    fn = Flaky(err(stripe.RateLimitError, 429, {"Retry-After": "3600"}))
    with pytest.raises(stripe.RateLimitError):
        policy.call(fn)
    assert fn.calls == 1 and slept == []


def test_non_retryable_failures_propagate_immediately() -> None:
    slept: list[float] = []
    policy = RetryPolicy(5, sleep=slept.append)
    fn = Flaky(err(stripe.CardError, 402, code="card_declined"))
    with pytest.raises(stripe.CardError):
        policy.call(fn)
    assert fn.calls == 1 and slept == []
    assert policy.stats().retries == 0


def test_coroutines_are_retried_with_the_async_sleep() -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(3, async_sleep=record, sleep=lambda s: pytest.fail("blocking sleep in async path"))
    flaky = Flaky(err(stripe.APIError, 503))

    async def op() -> str:
        return flaky()

    assert asyncio.run(policy.call_async(op)) == "ok"
    assert flaky.calls == 2 and len(slept) == 1


@pytest.mark.parametrize(
    ("kwargs"), [{"max_attempts": 0}, {"initial_delay": 0}, {"initial_delay": 2, "max_delay": 1}]
)
def test_nonsensical_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)

"""Pacing of Stripe requests: a token bucket per process, at Stripe's documented rate for the key's mode."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ml_connector.stripe.ratelimit import (
    LIVE_RATE_PER_S,
    TEST_RATE_PER_S,
    RateLimiter,
    RateLimitTimeout,
    for_api_key,
    for_mode,
    key_mode,
)


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def limiter(rate: float, burst: int, clock: FakeClock) -> RateLimiter:
    return RateLimiter(rate, burst, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)


def test_a_burst_goes_out_at_once_then_requests_are_paced_at_the_rate() -> None:
    clock = FakeClock()
    bucket = limiter(10, 3, clock)
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.1, 0.1])
    assert clock.now - 1000.0 == pytest.approx(0.3)


def test_n_requests_take_at_least_n_over_rate_seconds_after_the_burst() -> None:
    clock = FakeClock()
    bucket = limiter(25, 1, clock)
    for _ in range(101):
        bucket.acquire()
    assert clock.now - 1000.0 == pytest.approx(100 / 25)


def test_idle_time_refills_the_bucket_but_never_beyond_the_burst() -> None:
    clock = FakeClock()
    bucket = limiter(10, 2, clock)
    bucket.acquire()
    bucket.acquire()
    clock.now += 60  # a quiet minute
    assert [bucket.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])


def test_counters_report_acquisitions_and_time_spent_waiting() -> None:
    clock = FakeClock()
    bucket = limiter(4, 1, clock)
    for _ in range(5):
        bucket.acquire()
    stats = bucket.stats()
    assert stats.acquired == 5
    assert stats.waited == 4
    assert stats.waited_seconds == pytest.approx(1.0)


def test_a_caller_with_a_near_deadline_is_refused_without_losing_a_token() -> None:
    clock = FakeClock()
    bucket = limiter(1, 1, clock)
    bucket.acquire()
    with pytest.raises(RateLimitTimeout):
        bucket.acquire(max_wait=0.5)
    assert bucket.acquire(max_wait=1.0) == pytest.approx(1.0)
    assert bucket.stats().acquired == 2


def test_concurrent_threads_each_get_their_own_slot() -> None:
    clock = FakeClock()
    waits: list[float] = []
    lock = threading.Lock()
    # The clock never moves and sleeping is recorded only: every thread's reservation is visible at once.
    bucket = RateLimiter(10, 1, clock=clock, sleep=lambda s: None)

    def worker() -> None:
        w = bucket.acquire()
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([i / 10 for i in range(20)])
    assert bucket.stats().acquired == 20


def test_coroutines_are_paced_by_the_same_bucket_without_blocking_the_loop() -> None:
    clock = FakeClock()
    bucket = limiter(5, 1, clock)

    async def three() -> list[float]:
        return [await bucket.acquire_async() for _ in range(3)]

    waits = asyncio.run(three())
    bucket.acquire()
    assert waits == pytest.approx([0.0, 0.2, 0.2])
    assert clock.sleeps == pytest.approx([0.2, 0.2, 0.2])


@pytest.mark.parametrize(
    ("api_key", "mode"),
    [
        ("sk_test_51Abc", "test"),
        ("rk_test_51Abc", "test"),
        ("sk_live_51Abc", "live"),
        ("rk_live_51Abc", "live"),
    ],
)
def test_the_mode_is_read_from_the_api_key_prefix(api_key: str, mode: str) -> None:
    assert key_mode(api_key) == mode


@pytest.mark.parametrize(
    "api_key", ["pk_test_51Secret", "sk_test_", "whsec_51Secret", "", "SK_LIVE_51Secret"]
)
def test_publishable_or_unknown_keys_are_refused_without_echoing_them(api_key: str) -> None:
    with pytest.raises(ValueError) as caught:
        key_mode(api_key)
    assert "51Secret" not in str(caught.value)


def test_default_rates_are_stripes_documented_limits_per_mode() -> None:
    assert for_mode(live=False).rate_per_s == TEST_RATE_PER_S == 25
    assert for_mode(live=True).rate_per_s == LIVE_RATE_PER_S == 100
    assert for_api_key("sk_live_51Abc").rate_per_s == 100
    assert for_api_key("rk_test_51Abc").rate_per_s == 25


def test_an_override_rate_wins_over_the_documented_default() -> None:
    bucket = for_mode(live=True, override=7.5)
    assert bucket.rate_per_s == 7.5
    assert bucket.burst == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_nonsensical_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)

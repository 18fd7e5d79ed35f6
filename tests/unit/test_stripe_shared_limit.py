"""The account-wide Stripe limiter without a database: slot hand-out, coalescing, errors, defaults.

A schedule kept in memory on a fake clock stands in for the database row, so every slot time is exact.
"""

from __future__ import annotations

import threading

import pytest

from ml_connector.stripe.ratelimit import RateLimiter, RateLimitTimeout
from ml_connector.stripe.shared_limit import (
    RateLimitInterrupted,
    SharedRateLimiter,
    _Ticket,
    account_key,
    default_rate,
    limiter_for,
)
from tests.fleet_support import busiest_second, schedule_lateness


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        """Sleeping does not move the shared clock: slot times stay comparable across callers."""


class MemoryStore:
    """The database row's arithmetic (``start = max(next_at, now)``) on the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.next_at: dict[str, float] = {}
        self.calls: list[int] = []
        self.lock = threading.Lock()
        self.fail: Exception | None = None

    def reserve(self, account: str, count: int, interval: float) -> float:
        with self.lock:
            if self.fail is not None:
                raise self.fail
            now = self.clock()
            start = max(self.next_at.get(account, now), now)
            self.next_at[account] = start + count * interval
            self.calls.append(count)
            return start - now


def test_two_limiters_on_one_schedule_hand_out_evenly_spaced_slots():
    clock = FakeClock()
    store = MemoryStore(clock)
    a = SharedRateLimiter(store, "test:acct", 20, prefetch=0, clock=clock, sleep=clock.sleep)
    b = SharedRateLimiter(store, "test:acct", 20, prefetch=0, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for limiter in (a, b, a, b, b, a)]
    # Slots at 0, 50, 100, ... ms whichever process asks: the two share one schedule.
    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20, 0.25])
    assert a.stats().acquired == 3 and b.stats().acquired == 3
    assert b.stats().waited == 3 and b.stats().waited_seconds == pytest.approx(0.05 + 0.15 + 0.20)


def test_separate_accounts_and_modes_do_not_share_a_schedule():
    clock = FakeClock()
    store = MemoryStore(clock)
    test_mode = SharedRateLimiter(store, account_key("sk_test_abc"), 25, clock=clock, sleep=clock.sleep)
    live_mode = SharedRateLimiter(store, account_key("sk_live_abc"), 100, clock=clock, sleep=clock.sleep)
    assert test_mode.acquire() == 0.0
    assert live_mode.acquire() == 0.0
    assert test_mode.acquire() == pytest.approx(0.04)
    assert live_mode.acquire() == pytest.approx(0.01)


def test_waiting_callers_are_served_by_one_reservation_each_batch():
    """While one caller reserves, the others queue; the next leader reserves for all of them at once."""
    clock = FakeClock()
    entered = threading.Event()
    release = threading.Event()

    class SlowStore(MemoryStore):
        def reserve(self, account: str, count: int, interval: float) -> float:
            if not self.calls:
                entered.set()
                release.wait(5)
            return super().reserve(account, count, interval)

    store = SlowStore(clock)
    limiter = SharedRateLimiter(store, "test:acct", 100, max_batch=10, prefetch=0, clock=clock, sleep=clock.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        wait = limiter.acquire()
        with lock:
            waits.append(wait)

    first = threading.Thread(target=call)
    first.start()
    assert entered.wait(5)
    others = [threading.Thread(target=call) for _ in range(6)]
    for thread in others:
        thread.start()
    while len(limiter._waiting) < 6:  # all six queued behind the leader's database round trip
        threading.Event().wait(0.001)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert store.calls == [1, 6]
    assert limiter.reservations == 2
    assert sorted(waits) == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06])


def test_a_lone_caller_reserves_a_tenth_of_a_second_and_the_next_callers_take_those_slots_without_a_round_trip():
    """Callers arriving one at a time (a sync's threads coming back from Stripe) would otherwise cost one
    serialized database round trip each, and on a busy host that alone held a sync to 80 % of its limit."""
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = SharedRateLimiter(store, "test:acct", 100, clock=clock, sleep=clock.sleep)
    assert limiter.prefetch == 10
    waits = [limiter.acquire() for _ in range(11)]
    assert store.calls == [10, 10], "ten slots a round trip; the eleventh caller reserved the next ten"
    assert waits == pytest.approx([i * 0.01 for i in range(11)])
    assert store.next_at["test:acct"] == pytest.approx(500.0 + 20 * 0.01)


def test_a_banked_slot_whose_time_has_passed_is_dropped_never_sent_late():
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = SharedRateLimiter(store, "test:acct", 100, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0.0  # banks the slots at 500.01 … 500.09
    clock.now = 500.055
    assert limiter.acquire() == pytest.approx(0.005), "the next slot still ahead, not one already past"
    assert limiter.dropped == 5
    assert store.calls == [10]


def test_processes_with_banks_still_share_one_evenly_spaced_schedule():
    clock = FakeClock()
    store = MemoryStore(clock)
    a = SharedRateLimiter(store, "test:acct", 100, clock=clock, sleep=clock.sleep)
    b = SharedRateLimiter(store, "test:acct", 100, clock=clock, sleep=clock.sleep)
    slots = []
    for limiter in (a, b, a, b, b, a, b):
        slots.append(clock.now + limiter.acquire())
    assert len(set(slots)) == len(slots), "no slot handed out twice"
    ordered = sorted(slots)
    assert min(later - earlier for earlier, later in zip(ordered, ordered[1:])) >= 0.01 - 1e-9
    assert store.calls == [10, 10], "each process reserved once and took its own slots"


def test_a_reservation_never_covers_more_than_max_batch_callers():
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = SharedRateLimiter(store, "test:acct", 100, prefetch=0, clock=clock, sleep=clock.sleep)
    assert limiter.max_batch == 10  # a tenth of a second's worth
    threads = [threading.Thread(target=limiter.acquire) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sum(store.calls) == 40 and max(store.calls) <= 10
    assert store.next_at["test:acct"] == pytest.approx(500.0 + 40 * 0.01)


def test_a_database_failure_reaches_the_callers_and_the_next_caller_leads_again():
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = SharedRateLimiter(store, "test:acct", 10, clock=clock, sleep=clock.sleep)
    store.fail = ConnectionError("database unreachable")
    with pytest.raises(ConnectionError, match="unreachable"):
        limiter.acquire()
    store.fail = None
    assert limiter.acquire() == 0.0
    assert limiter.stats().acquired == 1


class Interrupted(BaseException):
    """What temporalio raises inside a cancelled activity's thread, at any point of its code."""


def test_a_leader_interrupted_while_reserving_fails_its_batch_and_hands_the_lead_on():
    """The reserving thread is interrupted (not an ``Exception``): the callers of its batch are told to retry,
    and the callers queued behind it are served by the next leader instead of waiting for ever."""
    clock = FakeClock()
    entered = threading.Event()
    release = threading.Event()

    class InterruptedStore(MemoryStore):
        def reserve(self, account: str, count: int, interval: float) -> float:
            if not entered.is_set():
                entered.set()
                release.wait(5)
                raise Interrupted
            return super().reserve(account, count, interval)

    store = InterruptedStore(clock)
    limiter = SharedRateLimiter(store, "test:acct", 100, max_batch=10, prefetch=0, clock=clock, sleep=clock.sleep)
    outcomes: list[object] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            limiter.acquire()
            outcome: object = "slot"
        except BaseException as exc:  # noqa: BLE001 - the outcome is what the test reads
            outcome = type(exc)
        with lock:
            outcomes.append(outcome)

    leader = threading.Thread(target=call)
    leader.start()
    assert entered.wait(5)
    queued = [threading.Thread(target=call) for _ in range(3)]
    for thread in queued:
        thread.start()
    while len(limiter._waiting) < 3:
        threading.Event().wait(0.001)
    release.set()
    for thread in [leader, *queued]:
        thread.join(5)
    assert not any(thread.is_alive() for thread in [leader, *queued]), "nobody is left waiting"
    assert sorted(map(str, outcomes)) == sorted(map(str, [Interrupted, "slot", "slot", "slot"]))
    assert store.calls == [3]


def test_a_caller_in_the_batch_of_an_interrupted_leader_is_told_to_retry():
    clock = FakeClock()

    class InterruptedStore(MemoryStore):
        def reserve(self, account: str, count: int, interval: float) -> float:
            raise Interrupted

    limiter = SharedRateLimiter(InterruptedStore(clock), "test:acct", 100, clock=clock, sleep=clock.sleep)
    stranded = _Ticket()
    with limiter._lock:  # a caller queued just before the leader took its batch
        limiter._waiting.append(stranded)
    with pytest.raises(Interrupted):
        limiter.acquire()
    assert isinstance(stranded.error, RateLimitInterrupted) and stranded.wake.is_set()


def test_a_lead_lost_with_its_thread_is_taken_over_after_the_lead_timeout():
    """The leader's thread vanished before it reserved (its ticket still first in line): the next caller
    waits ``lead_timeout``, then reserves for the line itself."""
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = SharedRateLimiter(
        store, "test:acct", 100, prefetch=0, clock=clock, sleep=clock.sleep, lead_timeout=0.05
    )
    with limiter._lock:
        limiter._waiting.append(_Ticket())  # the vanished leader's ticket
        limiter._leading = True
    done = threading.Event()
    waits: list[float] = []
    thread = threading.Thread(target=lambda: (waits.append(limiter.acquire()), done.set()))
    thread.start()
    assert done.wait(5), "the caller took the lead over"
    assert store.calls == [2]  # the vanished caller's slot is reserved too (and goes unused)
    assert waits == [pytest.approx(0.01)]


def test_max_wait_refuses_a_slot_too_far_away():
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = SharedRateLimiter(store, "test:acct", 1, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    with pytest.raises(RateLimitTimeout):
        limiter.acquire(max_wait=0.5)
    # The refused slot stays taken (never given back: the rate can only go down).
    assert limiter.acquire() == pytest.approx(2.0)


def test_defaults_follow_the_key_mode_and_the_setting_overrides_them():
    assert default_rate("sk_test_abc") == 25.0
    assert default_rate("rk_test_abc") == 25.0
    assert default_rate("sk_live_abc") == 100.0
    assert default_rate("rk_live_abc") == 100.0
    assert default_rate("sk_live_abc", 40.0) == 40.0


def test_the_schedule_key_names_the_account_never_the_api_key():
    assert account_key("sk_live_secret", "acct_123") == "live:acct_123"
    keyed = account_key("sk_test_secret")
    assert keyed.startswith("test:key-") and "secret" not in keyed
    assert account_key("rk_test_secret") != keyed


def test_one_limiter_per_process_and_account(tmp_path):
    url = f"sqlite:///{tmp_path / 'mlc.db'}"
    first = limiter_for(url, "sk_test_one")
    assert isinstance(first, SharedRateLimiter) and first.rate_per_s == 25.0
    assert limiter_for(url, "sk_test_one") is first
    assert limiter_for(url, "sk_test_two") is not first
    assert limiter_for(url, "sk_live_one", rate_per_s=60).rate_per_s == 60.0
    assert (tmp_path / "mlc.db-stripe-rate").exists()  # SQLite: the schedule lives in a side file


def test_an_in_memory_database_gets_a_per_process_limiter():
    limiter = limiter_for("sqlite://", "sk_live_memory")
    assert isinstance(limiter, RateLimiter) and limiter.rate_per_s == 100.0 and limiter.burst == 1


def test_schedule_lateness_measures_how_far_arrivals_are_from_the_limit():
    """The measure the multi-process tests apply at the Stripe server (tests/fleet_support.py)."""
    even = [i * 0.1 for i in range(50)]
    assert schedule_lateness(even, 10) == pytest.approx(0.0, abs=1e-9)
    assert schedule_lateness([i * 0.2 for i in range(50)], 10) == 0.0  # under the limit
    late = even[:10] + [even[10] + 0.08] + even[11:]  # one request 80 ms late, the next one on time
    assert schedule_lateness(late, 10) == pytest.approx(0.08)
    assert busiest_second(late) == 11  # what a strict one-second window at the limit would count
    doubled = [i * 0.05 for i in range(50)]  # twice the limit for 2.5 s
    assert schedule_lateness(doubled, 10) == pytest.approx(49 * 0.05)

"""The login throttle's rules (ml_connector/qbwc/throttle.py), without a database or HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ml_connector.qbwc.throttle import (
    LoginThrottle,
    acceptable_credentials,
    address_key,
    name_tag,
    username_key,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _seconds(*offsets: float) -> list[datetime]:
    return [NOW + timedelta(seconds=o) for o in offsets]


def test_the_first_failures_are_free_then_the_delay_doubles_up_to_its_cap():
    throttle = LoginThrottle(free_failures=3, base_delay=timedelta(seconds=2), max_delay=timedelta(seconds=60))
    delays = [throttle.delay_after(n).total_seconds() for n in range(10)]
    assert delays == [0, 0, 0, 2, 4, 8, 16, 32, 60, 60]


def test_an_attempt_waits_only_for_the_delay_after_the_latest_failure():
    throttle = LoginThrottle(free_failures=3, base_delay=timedelta(seconds=2))
    failures = _seconds(-3, -2, -1)
    assert throttle.wait_until(failures, NOW) == NOW + timedelta(seconds=1)
    assert throttle.wait_until(failures, NOW + timedelta(seconds=1)) is None, "no lock: the delay passes"
    assert throttle.wait_until(_seconds(-3, -2), NOW) is None


def test_failures_older_than_the_memory_are_forgotten():
    throttle = LoginThrottle(free_failures=1, memory=timedelta(hours=1))
    old = [NOW - timedelta(hours=2)] * 50
    assert throttle.wait_until(old, NOW) is None


def test_the_throttle_needs_aware_times_and_sane_parameters():
    with pytest.raises(ValueError):
        LoginThrottle().wait_until([datetime(2026, 1, 1)], NOW)  # noqa: DTZ001
    with pytest.raises(ValueError):
        LoginThrottle(free_failures=-1)
    with pytest.raises(ValueError):
        LoginThrottle(base_delay=timedelta(seconds=10), max_delay=timedelta(seconds=5))
    with pytest.raises(ValueError):
        LoginThrottle(max_delay=timedelta(hours=2), memory=timedelta(hours=1))


def test_credentials_are_bounded_and_names_are_stored_and_logged_only_as_hashes():
    assert acceptable_credentials("ml-connector", "a password")
    assert not acceptable_credentials("n" * 201, "a password")
    assert not acceptable_credentials("ml-connector", "p" * 1025)
    assert not acceptable_credentials("", "a password")
    key = username_key("n" * 9_000_000)
    assert len(key) == 64 and key == username_key("n" * 9_000_000)
    assert username_key("\udc80") != username_key("?"), "lone surrogates hash instead of crashing"
    assert len(name_tag("ml-connector")) == 12 and "ml-connector" not in name_tag("ml-connector")


def test_an_address_is_one_source_and_an_ipv6_customer_is_its_64():
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("x" * 500) == "x" * 64

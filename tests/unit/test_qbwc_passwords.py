"""Web Connector passwords are stored as salted scrypt hashes, checked safely, and guessing is throttled."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ml_connector.qbwc.passwords import (
    DUMMY_HASH,
    SCRYPT_N,
    FailurePolicy,
    hash_password,
    needs_rehash,
    verify_password,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSWORD)


def test_a_stored_hash_describes_itself_and_does_not_contain_the_password(stored: str) -> None:
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(SCRYPT_N), "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert PASSWORD not in stored


def test_the_right_password_verifies_and_a_wrong_one_does_not(stored: str) -> None:
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password("Correct horse battery staple", stored)
    assert not verify_password("", stored)


def test_the_same_password_hashes_differently_each_time(stored: str) -> None:
    again = hash_password(PASSWORD)
    assert again != stored
    assert verify_password(PASSWORD, again)


def test_a_password_typed_with_decomposed_accents_still_matches() -> None:
    composed = "caf\u00e9-Zu\u0308rich"  # é precomposed, ü decomposed
    decomposed = "cafe\u0301-Z\u00fcrich"
    assert verify_password(decomposed, hash_password(composed))


def test_an_empty_password_cannot_be_set() -> None:
    with pytest.raises(ValueError):
        hash_password("")


@pytest.mark.parametrize(
    "broken",
    [
        "",
        "plaintext-password",
        "scrypt$16384$8$1$c2FsdA==",
        "bcrypt$16384$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16383$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA==",  # N not a power of two
        "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA==",  # would need 1 TiB
        "scrypt$16384$8$1$!!!notbase64!!!$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16384$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",  # salt too short
        "scrypt$16384$8$1$c2FsdHNhbHRzYWx0$aGFzaA==",  # digest too short
        "scrypt$abc$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$-16384$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA==",
    ],
)
def test_a_malformed_stored_hash_never_matches_and_never_raises(broken: str) -> None:
    assert verify_password(PASSWORD, broken) is False
    assert needs_rehash(broken)


def test_non_string_inputs_do_not_match() -> None:
    assert verify_password(None, DUMMY_HASH) is False  # type: ignore[arg-type]
    assert verify_password(PASSWORD, None) is False  # type: ignore[arg-type]


def test_the_dummy_hash_is_well_formed_but_matches_nothing() -> None:
    assert not needs_rehash(DUMMY_HASH)
    assert not verify_password("", DUMMY_HASH)
    assert not verify_password(PASSWORD, DUMMY_HASH)


def test_hashes_made_with_weaker_parameters_still_verify_but_ask_to_be_rehashed(stored: str) -> None:
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=1024, r=8, p=1, dklen=32)
    old = f"scrypt$1024$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_password(PASSWORD, old)
    assert needs_rehash(old)
    assert not needs_rehash(stored)


# ---------------------------------------------------------------------------------------------------------
# throttling

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def minutes_ago(*offsets: float) -> list[datetime]:
    return [NOW - timedelta(minutes=offset) for offset in offsets]


def test_a_few_failures_do_not_lock_the_account() -> None:
    assert FailurePolicy().locked_until(minutes_ago(4, 3, 2, 1), NOW) is None
    assert FailurePolicy().locked_until([], NOW) is None


def test_five_failures_within_five_minutes_lock_it_for_five_minutes_from_the_last() -> None:
    assert FailurePolicy().locked_until(minutes_ago(4, 3, 2, 1, 0.5), NOW) == NOW + timedelta(minutes=4.5)


def test_the_lock_ends_when_the_lockout_has_passed() -> None:
    failures = minutes_ago(14, 13, 12, 11, 10)
    assert FailurePolicy().locked_until(failures, NOW - timedelta(minutes=6)) is not None
    assert FailurePolicy().locked_until(failures, NOW) is None


def test_failures_spread_wider_than_the_window_do_not_lock() -> None:
    assert FailurePolicy().locked_until(minutes_ago(9, 7, 5, 3, 1), NOW) is None


def test_failures_may_come_in_any_order_and_any_timezone() -> None:
    eastern = timezone(timedelta(hours=-5))
    failures = [moment.astimezone(eastern) for moment in minutes_ago(0.5, 3, 1, 4, 2, 30)]
    assert FailurePolicy().locked_until(failures, NOW) == NOW + timedelta(minutes=4.5)


def test_a_stricter_policy_locks_sooner_and_longer() -> None:
    policy = FailurePolicy(max_failures=2, window=timedelta(minutes=1), lockout=timedelta(hours=1))
    assert policy.locked_until(minutes_ago(0.5, 0), NOW) == NOW + timedelta(hours=1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FailurePolicy().locked_until([], NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        FailurePolicy().locked_until([NOW.replace(tzinfo=None)], NOW)


@pytest.mark.parametrize(
    "settings",
    [
        {"max_failures": 0},
        {"window": timedelta(0)},
        {"lockout": timedelta(seconds=-1)},
    ],
)
def test_a_policy_that_could_never_or_always_lock_is_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FailurePolicy(**settings)  # type: ignore[arg-type]

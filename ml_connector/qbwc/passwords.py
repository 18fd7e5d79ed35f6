"""Web Connector passwords: scrypt hashes at rest, constant-time checks, and a pure lockout policy.

The Web Connector sends the password in clear (over TLS) on every authenticate call, i.e. every few minutes
per company file, so verification sits on a hot-ish path of a public endpoint. Cost parameters are chosen for
that: scrypt with N=2**14, r=8, p=1 takes roughly 20-50 ms and 16 MiB of memory on a current server core.
That is expensive enough to make offline guessing of a stolen hash slow (memory-hard, so GPUs gain little),
and cheap enough that a legitimate poll, or a burst of them from many companies, does not queue up behind
password checks. Guessing online is throttled separately by :class:`FailurePolicy`.

Stored hashes are self-describing (``scrypt$N$r$p$salt$hash``) so the cost can be raised later without
invalidating existing passwords: :func:`needs_rehash` says when to re-hash after a successful login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ml_connector.qbwc.throttle import check_count, require_aware

__all__ = ["DUMMY_HASH", "FailurePolicy", "hash_password", "needs_rehash", "verify_password"]

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32

_SCHEME = "scrypt"
# Bounds for parameters read back from storage: a tampered or corrupt row must not be able to make one
# verification allocate gigabytes or run for minutes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MAX_MEMORY = 256 * 1024 * 1024
_MIN_SALT_BYTES = 8
_MIN_HASH_BYTES = 16
_MAX_HASH_BYTES = 128


def _password_bytes(password: str) -> bytes:
    # NFC so that the same visible password typed on Windows (QBWC) and elsewhere (our set-up page) matches.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        _password_bytes(password), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=_MAX_MEMORY + 1024 * 1024
    )


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A new ``scrypt$N$r$p$salt_b64$hash_b64`` string for ``password``, with a fresh random salt."""
    if not isinstance(password, str):
        raise TypeError(f"password must be str, not {type(password).__name__}")
    if not password:
        raise ValueError("Refusing to store an empty password.")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64encode(salt)}${_b64encode(digest)}"


@dataclass(frozen=True)
class _Parsed:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _parse(stored: object) -> _Parsed | None:
    """The parts of a stored hash, or ``None`` for anything malformed or outside the safe parameter range."""
    if not isinstance(stored, str):
        return None
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    try:
        n, r, p = (int(part, 10) for part in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    if 128 * n * r * p > _MAX_MEMORY or len(salt) < _MIN_SALT_BYTES:
        return None
    if not _MIN_HASH_BYTES <= len(digest) <= _MAX_HASH_BYTES:
        return None
    return _Parsed(n, r, p, salt, digest)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``. Never raises: malformed input simply does not match.

    A malformed ``stored`` still costs one scrypt run (against :data:`DUMMY_HASH`), so a corrupt row does not
    answer measurably faster than a wrong password.
    """
    parsed = _parse(stored)
    genuine = parsed is not None and stored is not DUMMY_HASH
    reference = parsed or _DUMMY_PARSED
    if reference is None or not isinstance(password, str):
        return False
    try:
        candidate = _scrypt(
            password, reference.salt, reference.n, reference.r, reference.p, len(reference.digest)
        )
    except (ValueError, MemoryError, UnicodeError):
        return False
    return hmac.compare_digest(candidate, reference.digest) and genuine


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than today's (re-hash after a successful login)."""
    parsed = _parse(stored)
    return parsed is None or (parsed.n, parsed.r, parsed.p, len(parsed.digest)) != (
        SCRYPT_N,
        SCRYPT_R,
        SCRYPT_P,
        HASH_BYTES,
    )


# A hash of a random password nobody knows. Verify unknown user names against it so that "no such user"
# costs the same scrypt run as "wrong password" and user names cannot be enumerated by timing.
DUMMY_HASH: str = hash_password(secrets.token_urlsafe(32))
_DUMMY_PARSED = _parse(DUMMY_HASH)


@dataclass(frozen=True)
class FailurePolicy:
    """Throttle for failed logins: ``max_failures`` within ``window`` locks the account for ``lockout``.

    Pure: callers keep the failure timestamps (e.g. in the database) and ask :meth:`locked_until` before
    checking a password. The lockout runs from the latest failure that completes a burst, so failures recorded
    while locked keep the account locked; once a burst is over, the budget returns as old failures age out.
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=5)
    lockout: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        check_count(self.max_failures, "max_failures", minimum=1)
        if self.window <= timedelta(0):
            raise ValueError(f"window must be positive, not {self.window}.")
        if self.lockout <= timedelta(0):
            raise ValueError(f"lockout must be positive, not {self.lockout}.")

    def locked_until(self, failures: Sequence[datetime], now: datetime) -> datetime | None:
        """When the lock ends, or ``None`` if logging in may be attempted at ``now``.

        ``failures`` are the times of failed attempts for one user (any order, older ones may be included).
        All datetimes must be timezone-aware.
        """
        require_aware((now, *failures), "FailurePolicy")
        # Failures stamped slightly after ``now`` (clock skew between servers) still count.
        recent = sorted(failures)
        if len(recent) < self.max_failures:
            return None
        burst = recent[-self.max_failures :]
        if burst[-1] - burst[0] > self.window:
            return None
        until = burst[-1] + self.lockout
        return until if until > now else None

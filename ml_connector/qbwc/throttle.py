"""Login throttling for the Web Connector's ``authenticate``: pure rules, no I/O (like ``session.py``).

The endpoint is public and the default user name (``ml-connector``) is guessable, so the throttle must slow a
guesser down without ever becoming a way to lock the real Web Connector out. The rules, once:

- **Keyed by (source address, user name).** Failures from one address never slow another address down: a
  guesser elsewhere on the internet cannot touch the owner's Web Connector. IPv6 addresses count per /64
  (one customer's allocation), so rotating addresses inside it buys nothing.
- **A growing delay, never a hard lock.** ``free_failures`` wrong passwords cost nothing; after that each
  further attempt must wait ``base_delay * 2**k`` after the latest failure, capped at ``max_delay``.
- **Attempts made while throttled are not checked and not recorded.** They cost no scrypt run and no database
  write, and they do not extend anything: once the delay has passed, the next attempt is checked — the right
  password gets through, even from an address a guesser shares.
- **Failures are forgotten** after ``memory`` without a new one, and cleared by a successful login from the
  same key.
- **Nothing the caller sent is stored or logged as sent.** User names are kept and logged as a short hash
  (:func:`username_key`, :func:`name_tag`); over-long credentials are refused before any hashing or database
  work (:func:`acceptable_credentials`).

The caller (``QbwcService.authenticate``) loads the failures of the key, asks :meth:`LoginThrottle.wait_until`,
and records a failure only for an attempt it actually checked. The client address reaches it through
:data:`PEER`, a context variable the HTTP layer sets for the call (the SOAP codec knows nothing of sockets).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MAX_USERNAME_CHARS",
    "PEER",
    "LoginThrottle",
    "acceptable_credentials",
    "address_key",
    "name_tag",
    "username_key",
]

# The company table holds user names of at most 200 characters; no real password is longer than this.
MAX_USERNAME_CHARS = 200
MAX_PASSWORD_CHARS = 1024

# The client address of the SOAP call being served ("" when unknown, e.g. a call made without HTTP).
PEER: ContextVar[str] = ContextVar("qbwc_peer", default="")


def acceptable_credentials(username: str, password: str) -> bool:
    """Whether the pair is worth a password check at all: non-empty and within the length bounds."""
    return 0 < len(username) <= MAX_USERNAME_CHARS and 0 < len(password) <= MAX_PASSWORD_CHARS


def username_key(username: str) -> str:
    """What a failed login stores instead of the user name as sent: 64 hex characters, whatever was sent."""
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def name_tag(username: str) -> str:
    """A short, stable tag of a user name for logs: lets an operator tell guessers apart, reveals no name."""
    return username_key(username)[:12]


def address_key(address: str) -> str:
    """The throttle's notion of "one source": the address itself, an IPv6 address's /64, at most 64 chars."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def check_count(value: object, name: str, *, minimum: int) -> None:
    """Refuse a policy's count (failures allowed) unless it is a whole number of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        wanted = "a positive whole number" if minimum == 1 else f"a whole number ≥ {minimum}"
        raise ValueError(f"{name} must be {wanted}, not {value!r}.")


def require_aware(moments: Iterable[datetime], policy: str) -> None:
    """A policy compares failure times with now: naive datetimes would compare wrongly, so they are refused."""
    for moment in moments:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{policy} needs timezone-aware datetimes.")


@dataclass(frozen=True)
class LoginThrottle:
    """``free_failures`` wrong passwords are free; then each attempt waits a doubling delay (at most
    ``max_delay``) after the latest failure. Failures older than ``memory`` are forgotten."""

    free_failures: int = 3
    base_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=5)
    memory: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        check_count(self.free_failures, "free_failures", minimum=0)
        if self.base_delay <= timedelta(0) or self.max_delay < self.base_delay:
            raise ValueError("base_delay must be positive and max_delay at least base_delay.")
        if self.memory < self.max_delay:
            raise ValueError("memory must be at least max_delay, or a throttled key would be forgotten early.")

    def delay_after(self, failures: int) -> timedelta:
        """How long after the latest failure the next attempt waits, given that many recent failures."""
        if failures < self.free_failures or failures <= 0:
            return timedelta(0)
        exponent = min(failures - self.free_failures, 30)
        return min(self.base_delay * (2**exponent), self.max_delay)

    def window_start(self, now: datetime) -> datetime:
        """Failures before this moment no longer count (load only the newer ones)."""
        return now - self.memory

    def wait_until(self, failures: Sequence[datetime], now: datetime) -> datetime | None:
        """When the next attempt of this key may be checked, or ``None`` if it may be checked at ``now``.

        ``failures`` are the times of the key's recorded failures (any order; older ones are ignored). All
        datetimes must be timezone-aware.
        """
        require_aware((now, *failures), "LoginThrottle")
        recent = [f for f in failures if f >= self.window_start(now)]
        if not recent:
            return None
        until = max(recent) + self.delay_after(len(recent))
        return until if until > now else None

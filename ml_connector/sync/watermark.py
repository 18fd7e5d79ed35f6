"""The modified-since window of a poll, in QuickBooks' own wall clock.

QuickBooks compares FromModifiedDate with TimeModified as local wall-clock readings, and prints TimeModified
with an offset that ignores daylight saving time (see ``qbxml.values``). So the watermark is the *wall-clock
text* of the newest TimeModified we processed, never a converted instant, and each poll re-reads a small
overlap before it: an edit saved in the same second as the last one we saw, or while the previous poll's
iterator was running, is read again rather than missed. Re-reading costs nothing in Stripe: an unchanged
EditSequence is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ml_connector.qbxml.values import QbDateTime, parse_qb_datetime

DEFAULT_OVERLAP = timedelta(minutes=2)


def query_from(watermark: str | None, overlap: timedelta = DEFAULT_OVERLAP) -> datetime | None:
    """FromModifiedDate (naive: QuickBooks-local) for the next poll, or None for the first (full) sync."""
    if watermark is None:
        return None
    return parse_qb_datetime(watermark).local - overlap


def advance(watermark: str | None, seen: Iterable[QbDateTime | None]) -> str | None:
    """The newest wall clock among ``seen`` and the current watermark (wall-clock text compares in order)."""
    newest = watermark
    for moment in seen:
        if moment is not None and (newest is None or moment.wall_clock > newest):
            newest = moment.wall_clock
    return newest


def earliest(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def next_watermark(current: str | None, newest: str | None, hold: str | None) -> str | None:
    """After a poll: back to the oldest record that must be read again, else forward to the newest read."""
    if hold is not None:
        return hold
    if newest is None:
        return current
    return newest if current is None else max(current, newest)

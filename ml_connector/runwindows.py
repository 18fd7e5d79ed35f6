"""Run windows: when a company file may be worked on, e.g. only outside office hours.

A bookkeeper may not want ReceivePaymentAdd and customer writes landing while people type into QuickBooks
(record-in-use errors, a slower file). With `run_windows = ["18:00-07:00"]` the Web Connector still calls at
its usual interval, but outside the windows authenticate answers `none` with a *postpone* of the seconds until
the next window opens, so the Web Connector waits that long instead of asking again every few minutes; work
simply stays queued meanwhile (nothing is lost, see ARCHITECTURE.md).

Windows are wall-clock ranges in the company file's time zone (`timezone` in the TOML, `MLC_COMPANY_TIMEZONE`);
a range whose end is before its start runs past midnight. Pure functions; the caller passes the time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # config imports this module to validate windows
    from ml_connector.config import CompanyConfig

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_MINUTES_PER_DAY = 24 * 60


class RunWindowError(ValueError):
    """A window is not written as HH:MM-HH:MM."""


@dataclass(frozen=True)
class RunWindow:
    """[start, end) in minutes after local midnight; end < start wraps past midnight."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"

    def contains(self, minute_of_day: float) -> bool:
        if self.start == self.end:
            return True  # "00:00-00:00": the whole day
        if self.start < self.end:
            return self.start <= minute_of_day < self.end
        return minute_of_day >= self.start or minute_of_day < self.end


def parse_window(text: str) -> RunWindow:
    found = _WINDOW.match(text)
    if found is None:
        raise RunWindowError(f"{text!r} is not a run window like 18:00-07:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    for hour, minute in ((h1, m1), (h2, m2)):
        if not (0 <= hour <= 24 and 0 <= minute < 60) or (hour == 24 and minute != 0):
            raise RunWindowError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
    return RunWindow((h1 * 60 + m1) % _MINUTES_PER_DAY, (h2 * 60 + m2) % _MINUTES_PER_DAY)


def parse_windows(items: Iterable[str]) -> tuple[RunWindow, ...]:
    return tuple(parse_window(item) for item in items if item.strip())


def split_env(value: str) -> list[str]:
    """`MLC_RUN_WINDOWS="18:00-07:00, 12:00-13:00"` → the separate windows."""
    return [part for part in re.split(r"[,;]", value) if part.strip()]


def seconds_until_open(windows: Sequence[RunWindow], now: datetime, timezone: str) -> int:
    """0 when `now` is inside a window (or no windows are configured), else whole seconds until one opens."""
    if not windows:
        return 0
    local = now.astimezone(ZoneInfo(timezone))
    minute = local.hour * 60 + local.minute + local.second / 60
    if any(w.contains(minute) for w in windows):
        return 0
    best: int | None = None
    for window in windows:
        for days in (0, 1):
            day = local.date() + timedelta(days=days)
            naive = datetime.combine(day, time(window.start // 60, window.start % 60))
            opens = naive.replace(tzinfo=local.tzinfo)
            # via UTC: aware datetimes sharing one tzinfo subtract as wall clocks, ignoring a DST change
            wait = (opens.astimezone(UTC) - now.astimezone(UTC)).total_seconds()
            if wait > 0 and (best is None or wait < best):
                best = int(wait) + (1 if wait % 1 else 0)
    return best if best is not None else 0


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class RunWindowSchedule:
    """The run windows of every configured company file, asked by the Web Connector service at authenticate."""

    def __init__(self, windows: Mapping[str, tuple[Sequence[RunWindow], str]]) -> None:
        self._windows = dict(windows)

    @classmethod
    def from_companies(cls, companies: Iterable[CompanyConfig]) -> RunWindowSchedule:
        return cls({c.id: (parse_windows(c.run_windows), c.timezone) for c in companies if c.run_windows})

    def seconds_until_open(self, company_id: str, now: datetime) -> int:
        windows, timezone = self._windows.get(company_id, ((), "UTC"))
        return seconds_until_open(windows, now, timezone)

    def describe(self, company_id: str) -> str:
        windows, timezone = self._windows.get(company_id, ((), "UTC"))
        return ", ".join(str(w) for w in windows) + f" ({timezone})" if windows else "any time"

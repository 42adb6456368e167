"""Interval schedules: Go-style durations ("1h30m") and ticks on a grid anchored at the Unix epoch.

The grid is INTERVAL_ANCHOR + k * interval, so a restart, a new replica or a changed time zone never shifts it:
which instants tick depends on the interval alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobwire.schedules.errors import InvalidSchedule

__all__ = [
    "INTERVAL_ANCHOR",
    "IntervalTicks",
    "count_interval_times",
    "next_interval_times",
    "parse_duration",
    "previous_interval_times",
]

INTERVAL_ANCHOR = datetime(1970, 1, 1, tzinfo=UTC)
"""Every interval schedule ticks at this instant plus a whole number of intervals."""

# The CRD's DURATION_PATTERN: Go's syntax without sign, and with digits before any decimal point.
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+")
_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ns|us|ms|s|m|h)")
_NANOSECONDS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MAX_NANOSECONDS = 2**63 - 1  # Go's time.Duration limit, about 292 years
_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


def parse_duration(text: str) -> timedelta:
    """A Go duration ("90s", "15m", "1h30m", "1.5h", "500ms"): units ns us ms s m h, at least one.

    Go counts in nanoseconds and a timedelta in microseconds, so a duration that is not a whole number of
    microseconds is refused rather than rounded.
    """
    if not text:
        raise InvalidSchedule("duration is empty")
    if text[0] in "+-":
        raise InvalidSchedule(f"duration '{text}' must not have a sign")
    if not _DURATION.fullmatch(text):
        raise InvalidSchedule(f"duration '{text}' is malformed (expected e.g. 90s, 15m, 1h30m)")
    nanoseconds = 0
    for whole, fraction, unit in _PART.findall(text):
        scale = _NANOSECONDS[unit]
        nanoseconds += int(whole) * scale
        if fraction:
            nanoseconds += int(fraction) * scale // 10 ** len(fraction)  # Go truncates below a nanosecond
    if nanoseconds > _MAX_NANOSECONDS:
        raise InvalidSchedule(f"duration '{text}' is out of range")
    microseconds, rest = divmod(nanoseconds, 1000)
    if rest:
        raise InvalidSchedule(f"duration '{text}' is not a whole number of microseconds")
    return timedelta(microseconds=microseconds)


def next_interval_times(interval: timedelta, after: datetime, count: int) -> list[datetime]:
    """The first `count` grid ticks strictly after `after` (aware), as aware UTC datetimes, ascending."""
    _check(interval, count)
    first = _index_at_or_before(interval, after) + 1
    return _ticks(interval, range(first, first + count))


def previous_interval_times(interval: timedelta, upto: datetime, count: int) -> list[datetime]:
    """The last `count` grid ticks at or before `upto` (aware), as aware UTC datetimes, ascending."""
    _check(interval, count)
    last = _index_at_or_before(interval, upto)
    return _ticks(interval, range(last - count + 1, last + 1))


def count_interval_times(interval: timedelta, start: datetime, end: datetime) -> int:
    """How many grid ticks fall in (start, end]."""
    _check(interval, 0)
    return max(0, _index_at_or_before(interval, end) - _index_at_or_before(interval, start))


@dataclass(frozen=True)
class IntervalTicks:
    """An interval schedule: the tick source that `ticks.plan_ticks` consumes."""

    interval: timedelta

    def after(self, instant: datetime, count: int) -> list[datetime]:
        """The next `count` ticks strictly after `instant`, ascending."""
        return next_interval_times(self.interval, instant, count)

    def at_or_before(self, instant: datetime, count: int) -> list[datetime]:
        """The newest `count` ticks at or before `instant`, ascending."""
        return previous_interval_times(self.interval, instant, count)

    def count_between(self, start: datetime, end: datetime) -> int:
        """How many ticks fall in (start, end]."""
        return count_interval_times(self.interval, start, end)


def _index_at_or_before(interval: timedelta, instant: datetime) -> int:
    """k of the latest tick at or before `instant` (floor division: exact, in microseconds)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {instant.isoformat()}")
    return (instant - INTERVAL_ANCHOR) // interval


def _ticks(interval: timedelta, indexes: range) -> list[datetime]:
    """The ticks with these indexes that `datetime` can represent."""
    lowest = -((INTERVAL_ANCHOR - _FIRST) // interval)
    highest = (_LAST - INTERVAL_ANCHOR) // interval
    return [INTERVAL_ANCHOR + k * interval for k in indexes if lowest <= k <= highest]


def _check(interval: timedelta, count: int) -> None:
    if interval <= timedelta(0):
        raise InvalidSchedule(f"interval must be positive, got {interval}")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")

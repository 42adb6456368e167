"""When a cron schedule fires in an IANA zone, under ISC/Vixie cron's daylight-saving rule.

- A wildcard job (minute or hour field starts with `*`) follows the wall clock: readings that a spring-forward
  skips do not fire; readings that a fall-back repeats fire again, once per real instant.
- Any other (fixed-time) job fires once per matching reading: a skipped reading fires at the instant the clocks
  jump (several skipped readings: still one run there); a repeated reading fires only at its first occurrence.
- At most one run per instant.

Matching readings are walked in wall-clock order (whole days and hours that cannot match are skipped) and turned
into instants. Wall-clock order is real-time order except inside a fall-back, where a wildcard job's repeats come
after the first occurrences of later readings; they wait in a small heap until real time reaches them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from heapq import heappop, heappush
from itertools import islice, takewhile
from zoneinfo import ZoneInfo

from jobwire.schedules.cron import (
    LAST_DAY,
    CronExpr,
    count_matches_until,
    first_match_at_or_after,
    last_match_at_or_before,
    parse_cron,
)
from jobwire.schedules.zones import UTC, clocks_jump_instant, occurrences, offset_at, wall_clock

__all__ = [
    "CronTicks",
    "count_fire_times",
    "iter_fire_times",
    "iter_fire_times_backward",
    "next_fire_times",
    "previous_fire_times",
]

_ONE_DAY = timedelta(days=1)
_ONE_MINUTE = timedelta(minutes=1)
_ONE_HOUR = timedelta(hours=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Instants this far from datetime's limits are not searched: a day of slack keeps every conversion in range.
_EARLIEST = datetime(1, 1, 3, tzinfo=UTC)
_LATEST = datetime.combine(LAST_DAY, time(), tzinfo=UTC) - _ONE_DAY


def next_fire_times(expr: CronExpr | str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The first `count` fire instants strictly after `after` (aware), as aware UTC datetimes, ascending."""
    _check_count(count)
    return list(islice(iter_fire_times(_parsed(expr), zone, after), count))


def previous_fire_times(expr: CronExpr | str, zone: ZoneInfo, upto: datetime, count: int) -> list[datetime]:
    """The last `count` fire instants at or before `upto` (aware), as aware UTC datetimes, ascending."""
    _check_count(count)
    newest_first = list(islice(iter_fire_times_backward(_parsed(expr), zone, upto), count))
    return newest_first[::-1]


def iter_fire_times(expr: CronExpr, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Every fire instant strictly after `after`, ascending, until the year 9999."""
    last = _as_utc(after, "after")
    if last >= _LATEST:
        return
    converter = _ReadingConverter(zone, wildcard=expr.is_wildcard_job)
    # The earliest reading that can still fire after `after`: a fall-back within the next day repeats readings
    # from before `after`'s own, so start from the lower of the offsets now and a day on.
    lowest_offset = min(offset_at(last, zone), offset_at(last + _ONE_DAY, zone))
    wall = (max(last, _EARLIEST) + lowest_offset).replace(tzinfo=None)
    repeats: list[datetime] = []
    while (reading := first_match_at_or_after(expr, wall)) is not None:
        first, repeat = converter.instants(reading)
        if first is not None:
            while repeats and repeats[0] <= first:
                pending = heappop(repeats)
                if pending > last:
                    yield pending
                    last = pending
            if first > last:
                yield first
                last = first
        if repeat is not None:
            heappush(repeats, repeat)
        wall = reading + _ONE_MINUTE
    for pending in sorted(repeats):
        if pending > last:
            yield pending
            last = pending


def iter_fire_times_backward(expr: CronExpr, zone: ZoneInfo, upto: datetime) -> Iterator[datetime]:
    """Every fire instant at or before `upto`, newest first, back to the year 1: the mirror of `iter_fire_times`."""
    end = _as_utc(upto, "upto")
    if end <= _EARLIEST:
        return
    end = min(end, _LATEST)
    converter = _ReadingConverter(zone, wildcard=expr.is_wildcard_job)
    highest_offset = max(offset_at(end, zone), offset_at(end - _ONE_DAY, zone))
    wall = (end + highest_offset).replace(tzinfo=None)
    # Walking backwards, the out-of-order instants of a fall-back are the first occurrences; keyed so that the
    # heap's smallest key is the latest instant.
    firsts: list[tuple[timedelta, datetime]] = []
    newest: datetime | None = None

    def fresh(instant: datetime) -> bool:
        return instant <= end and (newest is None or instant < newest)

    while (reading := last_match_at_or_before(expr, wall)) is not None:
        first, repeat = converter.instants(reading)
        latest, earlier = (repeat, first) if repeat is not None else (first, None)
        if latest is not None:
            while firsts and firsts[0][1] >= latest:
                pending = heappop(firsts)[1]
                if fresh(pending):
                    yield pending
                    newest = pending
            if fresh(latest):
                yield latest
                newest = latest
        if earlier is not None:
            heappush(firsts, (_EPOCH - earlier, earlier))
        wall = reading - _ONE_MINUTE
    for _, pending in sorted(firsts):
        if fresh(pending):
            yield pending
            newest = pending


def count_fire_times(expr: CronExpr, zone: ZoneInfo, start: datetime, end: datetime) -> int:
    """How many fire instants fall in (start, end], without listing them: a year of `* * * * *` is cheap.

    Real time is cut into local days (from one local midnight to the next). A run of days without a matching
    reading fires nothing unless a change at its edges brings in a jump or a repeat, so it is passed over whole;
    a day that no offset change touches fires exactly at its matching readings, so it is counted by arithmetic;
    a day with a change is cut into hours the same way, and only the hours the change touches are walked.
    """
    cursor = _as_utc(start, "start")
    stop = min(_as_utc(end, "end"), _LATEST)
    total = 0
    midnight = datetime.combine(wall_clock(max(cursor, _EARLIEST), zone).date() - _ONE_DAY, time())
    start_of_day: datetime | None = None
    while cursor < stop:
        if not expr.matches_day(midnight.date()):
            idle = _span(midnight, _next_matching_midnight(expr, midnight), zone, start_of_day)
            if idle.walls_to > midnight and (idle.end <= cursor or _is_quiet(idle)):
                cursor = max(cursor, min(stop, idle.end - _ONE_MICROSECOND))
                midnight, start_of_day = idle.walls_to, idle.end
                continue
        day = _span(midnight, midnight + _ONE_DAY, zone, start_of_day)
        if day.end > cursor:
            upto = min(stop, day.end - _ONE_MICROSECOND)
            total += _count_in_day(expr, day, cursor, upto)
            cursor = upto
        midnight, start_of_day = day.walls_to, day.end
    return total


@dataclass(frozen=True)
class CronTicks:
    """A cron schedule read in a zone: the tick source that `ticks.plan_ticks` consumes."""

    expr: CronExpr
    zone: ZoneInfo

    def after(self, instant: datetime, count: int) -> list[datetime]:
        """The next `count` ticks strictly after `instant`, ascending."""
        return next_fire_times(self.expr, self.zone, instant, count)

    def at_or_before(self, instant: datetime, count: int) -> list[datetime]:
        """The newest `count` ticks at or before `instant`, ascending."""
        return previous_fire_times(self.expr, self.zone, instant, count)

    def count_between(self, start: datetime, end: datetime) -> int:
        """How many ticks fall in (start, end]."""
        return count_fire_times(self.expr, self.zone, start, end)


class _ReadingConverter:
    """Turns matching readings into the instants they fire at, for one walk over one zone.

    Most readings sit in an hour that no offset change touches; for those the hour's start instant is remembered
    and a reading costs one addition, instead of two zoneinfo look-ups per minute of a dense schedule.
    """

    def __init__(self, zone: ZoneInfo, *, wildcard: bool) -> None:
        self._zone = zone
        self._wildcard = wildcard
        self._hour: datetime | None = None
        self._hour_start: datetime | None = None

    def instants(self, reading: datetime) -> tuple[datetime | None, datetime | None]:
        """(first occurrence or jump instant, repeat if this job fires it) for one matching reading."""
        hour = reading - timedelta(minutes=reading.minute)
        if hour != self._hour:
            self._hour, self._hour_start = hour, _plain_hour_start(hour, self._zone)
        if self._hour_start is not None:
            return self._hour_start + timedelta(minutes=reading.minute), None
        found = occurrences(reading, self._zone)
        if not found:
            return (None if self._wildcard else clocks_jump_instant(reading, self._zone)), None
        if len(found) == 1 or not self._wildcard:
            return found[0], None
        return found[0], found[1]


def _plain_hour_start(hour: datetime, zone: ZoneInfo) -> datetime | None:
    """The instant a wall-clock hour starts, if every whole-minute reading in it occurs exactly once at one
    offset (its first and last minute do, and there is at most one offset change an hour); else None."""
    first = occurrences(hour, zone)
    last = occurrences(hour + timedelta(minutes=59), zone)
    if len(first) == 1 and len(last) == 1 and last[0] - first[0] == timedelta(minutes=59):
        return first[0]
    return None


@dataclass(frozen=True)
class _Span:
    """The real time [start, end) from one wall-clock reading to a later one, each mapped to its first instant
    (a skipped reading maps past the jump; spans then overlap or run backwards, which callers tolerate)."""

    walls_from: datetime
    walls_to: datetime
    zone: ZoneInfo
    start: datetime
    end: datetime

    def steady_offset(self) -> timedelta | None:
        """The offset, if no change touches the span: its first reading occurs once and the offset holds from
        just before its start to just before its end (one change at most per span, as in every real zone).
        Then the span fires exactly at its matching readings."""
        if len(occurrences(self.walls_from, self.zone)) != 1:
            return None
        offset = offset_at(self.start, self.zone)
        steady = (
            offset_at(self.start - _ONE_MICROSECOND, self.zone) == offset
            and offset_at(self.end - _ONE_MICROSECOND, self.zone) == offset
        )
        return offset if steady else None


def _span(walls_from: datetime, walls_to: datetime, zone: ZoneInfo, start: datetime | None = None) -> _Span:
    """The span between two readings; `start` may be passed when already known (the previous span's end)."""
    if start is None:
        start = _first_instant(walls_from, zone)
    return _Span(walls_from, walls_to, zone, start, _first_instant(walls_to, zone))


def _next_matching_midnight(expr: CronExpr, midnight: datetime) -> datetime:
    """The start of the first day, at or after `midnight`'s, with a matching reading (or the calendar's end)."""
    reading = first_match_at_or_after(expr, midnight)
    return datetime.combine(reading.date() if reading is not None else LAST_DAY, time())


def _is_quiet(idle: _Span) -> bool:
    """Whether a span of days without matching readings fires nothing: no skipped or repeated readings from
    outside reach into it (both edge midnights occur once, and no jump lands exactly on its start)."""
    return (
        len(occurrences(idle.walls_from, idle.zone)) == 1
        and len(occurrences(idle.walls_to, idle.zone)) == 1
        and offset_at(idle.start - _ONE_MICROSECOND, idle.zone) == offset_at(idle.start, idle.zone)
    )


def _count_in_day(expr: CronExpr, day: _Span, after: datetime, upto: datetime) -> int:
    """Fires in (after, upto] within one local day: arithmetic if steady, else hour by hour."""
    offset = day.steady_offset()
    if offset is not None:
        return _count_readings(expr, day, offset, after, upto)
    total = 0
    cursor = after
    walls_from, start_of_hour = day.walls_from, day.start
    for _ in range(24):
        span = _span(walls_from, walls_from + _ONE_HOUR, day.zone, start_of_hour)
        walls_from, start_of_hour = span.walls_to, span.end
        if span.end <= cursor or cursor >= upto:
            continue
        hour_upto = min(upto, span.end - _ONE_MICROSECOND)
        offset = span.steady_offset()
        if offset is not None:
            total += _count_readings(expr, span, offset, cursor, hour_upto)
        else:
            total += _count_walked(expr, day.zone, cursor, hour_upto)
        cursor = hour_upto
    if cursor < upto:  # after a skipped midnight the next day starts late
        total += _count_walked(expr, day.zone, cursor, upto)
    return total


def _count_walked(expr: CronExpr, zone: ZoneInfo, after: datetime, upto: datetime) -> int:
    """Fires in (after, upto], found one by one: for the few hours an offset change touches."""
    return sum(1 for _ in takewhile(lambda instant: instant <= upto, iter_fire_times(expr, zone, after)))


def _count_readings(expr: CronExpr, span: _Span, offset: timedelta, after: datetime, upto: datetime) -> int:
    """Fires of a steady span in (after, upto]: its matching readings between the two instants' wall clocks."""
    day = span.walls_from.date()
    if not expr.matches_day(day):
        return 0
    # Instants shifted by the offset: aware datetimes whose fields are the local wall clock.
    low = max(after, span.start - _ONE_MICROSECOND) + offset
    high = min(upto, span.end - _ONE_MICROSECOND) + offset
    if high <= low:
        return 0
    return _readings_until(expr, day, high) - _readings_until(expr, day, low)


def _readings_until(expr: CronExpr, day: date, wall: datetime) -> int:
    """How many matching readings of a matching day come at or before `wall`."""
    if wall.date() < day:
        return 0
    if wall.date() > day:
        return len(expr.hours) * len(expr.minutes)
    return count_matches_until(expr, wall.time())


def _first_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant the clocks read `wall` (PEP 495 fold 0; past the jump for a skipped reading)."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _parsed(expr: CronExpr | str) -> CronExpr:
    return parse_cron(expr) if isinstance(expr, str) else expr


def _as_utc(instant: datetime, what: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {instant.isoformat()}")
    return instant.astimezone(UTC)


def _check_count(count: int) -> None:
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")

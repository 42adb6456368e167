"""Wall clock and real time in an IANA zone: which clock readings a daylight-saving change skips or repeats.

Everything here works on naive wall-clock readings and aware UTC instants. Offsets come from `zoneinfo`
(PEP 495): for a repeated reading `fold=0` is the first occurrence; for a skipped one the two folds disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobwire.schedules.errors import InvalidSchedule

__all__ = ["UTC", "clocks_jump_instant", "occurrences", "offset_at", "parse_time_zone", "wall_clock"]

_ONE_SECOND = timedelta(seconds=1)


def parse_time_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name` (from the `tzdata` package), or InvalidSchedule naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidSchedule(f"unknown time zone '{name}'") from None


def offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    """The zone's UTC offset in force at an aware instant."""
    offset = zone.utcoffset(instant.astimezone(zone))
    assert offset is not None  # a ZoneInfo always has one
    return offset


def wall_clock(instant: datetime, zone: ZoneInfo) -> datetime:
    """What the zone's clocks read (naive) at an aware instant."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def occurrences(wall: datetime, zone: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants at which the zone's clocks read `wall`: none if a spring-forward skips it, two if a
    fall-back repeats it (first occurrence first), else one."""
    first = _offset_of(wall, zone, fold=0)
    second = _offset_of(wall, zone, fold=1)
    if first == second:
        return ((wall - first).replace(tzinfo=UTC),)
    if first > second:
        return (wall - first).replace(tzinfo=UTC), (wall - second).replace(tzinfo=UTC)
    return ()


def clocks_jump_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """For a reading the clocks skip: the UTC instant they jumped over it (the first instant after the gap).

    Found by bisection between the two readings PEP 495 offers, which straddle the jump; transitions fall on
    whole seconds, so about fifteen steps for the widest gap.
    """
    before_offset = _offset_of(wall, zone, fold=0)
    after_offset = _offset_of(wall, zone, fold=1)
    if before_offset >= after_offset:
        raise ValueError(f"{wall.isoformat()} is not skipped in {zone.key}")
    low = (wall - after_offset).replace(tzinfo=UTC)  # still on the old offset
    high = (wall - before_offset).replace(tzinfo=UTC)  # already on the new one
    low = low.replace(microsecond=0)
    while high - low > _ONE_SECOND:
        middle = low + (high - low) // 2
        middle = middle.replace(microsecond=0)
        if offset_at(middle, zone) == before_offset:
            low = middle
        else:
            high = middle
    return high


def _offset_of(wall: datetime, zone: ZoneInfo, *, fold: int) -> timedelta:
    offset = zone.utcoffset(wall.replace(tzinfo=zone, fold=fold))
    assert offset is not None
    return offset

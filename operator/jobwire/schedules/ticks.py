"""Which ticks to run now: catch-up after downtime, starting deadlines and suspensions, decided without I/O.

A plan reads its schedule through `TickSource` (cron or interval alike), which can count ticks and find the newest
ones without listing every tick in between: a `* * * * *` schedule whose operator was down for a year plans in a
few milliseconds, reporting the half-million ticks it skips as a count and a few examples.
Jitter is not applied here: the caller adds `jitter_offset` to each planned instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol, get_args

from jobwire.schedules.cron import parse_cron
from jobwire.schedules.errors import InvalidSchedule
from jobwire.schedules.firing import CronTicks
from jobwire.schedules.interval import IntervalTicks, parse_duration
from jobwire.schedules.zones import parse_time_zone

__all__ = [
    "DEFAULT_MAX_RUNS",
    "NONE_POLICY_GRACE",
    "SKIPPED_EXAMPLES",
    "CatchUp",
    "SkipReason",
    "SkippedTicks",
    "TickPlan",
    "TickSource",
    "plan_ticks",
    "tick_source",
    "upcoming",
]

CatchUp = Literal["None", "Latest", "All"]

NONE_POLICY_GRACE = timedelta(seconds=60)
"""With catchUp None and no starting deadline: how late a tick may still start. Without some grace a tick would
run only if the operator happened to look at exactly its instant."""
DEFAULT_MAX_RUNS = 10
"""With catchUp All: how many missed ticks run when the Schedule does not say (the CRD's default)."""
SKIPPED_EXAMPLES = 5
"""How many skipped instants a plan lists per reason; the rest are only counted."""

_ONE_MICROSECOND = timedelta(microseconds=1)


class SkipReason(StrEnum):
    """Why a tick did not run; used as the reason of the Event the operator records."""

    SUSPENDED = "Suspended"
    STARTING_DEADLINE_EXCEEDED = "StartingDeadlineExceeded"
    MISSED_CATCH_UP_NONE = "MissedCatchUpNone"
    MISSED_CATCH_UP_LATEST = "MissedCatchUpLatest"
    MISSED_TOO_MANY = "MissedTooMany"


class TickSource(Protocol):
    """A schedule's ticks, as aware UTC datetimes (`CronTicks`, `IntervalTicks`)."""

    def after(self, instant: datetime, count: int) -> list[datetime]:
        """The next `count` ticks strictly after `instant`, ascending."""
        ...

    def at_or_before(self, instant: datetime, count: int) -> list[datetime]:
        """The newest `count` ticks at or before `instant`, ascending."""
        ...

    def count_between(self, start: datetime, end: datetime) -> int:
        """How many ticks fall in (start, end]."""
        ...


@dataclass(frozen=True)
class SkippedTicks:
    """Ticks skipped for one reason: how many, and the newest few of them."""

    reason: SkipReason
    count: int
    examples: tuple[datetime, ...]
    """The newest SKIPPED_EXAMPLES of them at most, ascending."""


@dataclass(frozen=True)
class TickPlan:
    """What to do with a schedule's ticks at one moment."""

    due: tuple[datetime, ...]
    """Scheduled instants to run now, ascending (before jitter)."""
    skipped: tuple[SkippedTicks, ...]
    """Ticks that will never run, oldest group first; at most one group per reason."""
    next: datetime | None
    """The first tick after now (and after any suspension), to wake up for."""

    @property
    def skipped_count(self) -> int:
        """How many ticks were skipped in all."""
        return sum(group.count for group in self.skipped)


def plan_ticks(
    ticks: TickSource,
    *,
    last_scheduled: datetime | None,
    created: datetime,
    now: datetime,
    catch_up: CatchUp,
    max_runs: int = DEFAULT_MAX_RUNS,
    starting_deadline: timedelta | None = None,
    not_before: datetime | None = None,
) -> TickPlan:
    """Split the ticks after max(last_scheduled, created) and at or before `now` into due and skipped.

    In order: ticks before `not_before` (the end of a suspension) never run. Ticks more than `starting_deadline`
    old are too late (catchUp None without a deadline: more than NONE_POLICY_GRACE old). Of the rest, None and
    Latest run the newest one (Latest is CronJob's behaviour), All runs the newest `max_runs` in order.
    """
    if catch_up not in get_args(CatchUp):
        raise ValueError(f"unknown catch-up policy {catch_up!r}")
    if max_runs < 1:
        raise ValueError(f"max_runs must be at least 1, got {max_runs}")
    if starting_deadline is not None and starting_deadline < timedelta(0):
        raise ValueError(f"starting_deadline must not be negative, got {starting_deadline}")

    skips: list[_SkipRange] = []
    floor = created if last_scheduled is None else max(created, last_scheduled)
    if not_before is not None and not_before - _ONE_MICROSECOND > floor:
        skips.append(_SkipRange(SkipReason.SUSPENDED, floor, min(now, not_before - _ONE_MICROSECOND)))
        floor = not_before - _ONE_MICROSECOND

    grace = starting_deadline
    if grace is None and catch_up == "None":
        grace = NONE_POLICY_GRACE
    if grace is not None and now - grace - _ONE_MICROSECOND > floor:
        too_late = now - grace - _ONE_MICROSECOND
        late_reason = SkipReason.MISSED_CATCH_UP_NONE
        if starting_deadline is not None:
            late_reason = SkipReason.STARTING_DEADLINE_EXCEEDED
        skips.append(_SkipRange(late_reason, floor, too_late))
        floor = too_late

    due: tuple[datetime, ...] = ()
    if floor < now:
        runs = max_runs if catch_up == "All" else 1
        due = tuple(tick for tick in ticks.at_or_before(now, runs) if tick > floor)
    if due:
        skips.append(_SkipRange(_OLDER_THAN_DUE[catch_up], floor, due[0] - _ONE_MICROSECOND))

    wake_after = now if not_before is None else max(now, not_before - _ONE_MICROSECOND)
    following = ticks.after(wake_after, 1)
    return TickPlan(due=due, skipped=_skipped_groups(ticks, skips), next=following[0] if following else None)


def upcoming(ticks: TickSource, now: datetime, count: int = 3) -> list[datetime]:
    """The next `count` ticks after now, for the Schedule's status (`nextScheduleTimes`)."""
    return ticks.after(now, count)


def tick_source(*, cron: str | None, interval: str | None, time_zone: str = "UTC") -> TickSource:
    """A Schedule spec's ticks, or InvalidSchedule naming what is wrong with the spec."""
    if cron is not None and interval is None:
        return CronTicks(parse_cron(cron), parse_time_zone(time_zone))
    if interval is not None and cron is None:
        duration = parse_duration(interval)
        if duration <= timedelta(0):
            raise InvalidSchedule(f"interval '{interval}' must be positive")
        return IntervalTicks(duration)
    raise InvalidSchedule("exactly one of cron and interval must be set")


# Among the ticks in time, the ones older than those that run are skipped for the policy's own reason.
_OLDER_THAN_DUE: dict[str, SkipReason] = {
    "None": SkipReason.MISSED_CATCH_UP_NONE,
    "Latest": SkipReason.MISSED_CATCH_UP_LATEST,
    "All": SkipReason.MISSED_TOO_MANY,
}


@dataclass(frozen=True)
class _SkipRange:
    """Every tick in (after, upto] is skipped for one reason."""

    reason: SkipReason
    after: datetime
    upto: datetime


def _skipped_groups(ticks: TickSource, ranges: list[_SkipRange]) -> tuple[SkippedTicks, ...]:
    """Count each range (ascending, adjacent) and keep a few examples, one group per reason."""
    groups: list[SkippedTicks] = []
    for skip in ranges:
        count = ticks.count_between(skip.after, skip.upto) if skip.upto > skip.after else 0
        if not count:
            continue
        newest = ticks.at_or_before(skip.upto, SKIPPED_EXAMPLES)
        examples = tuple(tick for tick in newest if tick > skip.after)
        if groups and groups[-1].reason == skip.reason:
            previous = groups.pop()
            count += previous.count
            examples = (previous.examples + examples)[-SKIPPED_EXAMPLES:]
        groups.append(SkippedTicks(skip.reason, count, examples))
    return tuple(groups)

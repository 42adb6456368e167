"""Cron expressions: parse the five fields and match wall-clock readings (time zones live in `firing`).

No library fits: croniter fires a fixed-time job twice on a fall-back day (ISC/Vixie cron fires it once), and it
finds a date that never comes (`0 0 31 2 *`) only while iterating, not when the expression is parsed; the
behaviour users expect is CronJob's (Vixie cron), so the parser and matcher are written here and pinned by tests.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from jobwire.schedules.errors import InvalidSchedule

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MACROS",
    "CronExpr",
    "count_matches_until",
    "first_match_at_or_after",
    "is_wildcard_job",
    "last_match_at_or_before",
    "parse_cron",
]

FIRST_DAY = date(1, 1, 2)
"""The earliest day searched: one day of margin keeps every UTC conversion inside `datetime`'s range."""
LAST_DAY = date(9999, 12, 30)
"""The latest day searched, for the same reason."""

MACROS: Mapping[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NUMBER = re.compile(r"[0-9]+")
_ONE_DAY = timedelta(days=1)
# The most days each month can have (February: 29, in leap years), for the "never fires" check.
_LONGEST_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class _FieldSpec:
    """What one of the five positions accepts."""

    name: str
    low: int
    high: int
    """The largest value a range may name (7 for day-of-week, which is Sunday again)."""
    names: Mapping[str, int]


_FIELDS = (
    _FieldSpec("minute", 0, 59, {}),
    _FieldSpec("hour", 0, 23, {}),
    _FieldSpec("day-of-month", 1, 31, {}),
    _FieldSpec("month", 1, 12, {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}),
    _FieldSpec("day-of-week", 0, 7, {name: number for number, name in enumerate(_DAY_NAMES)}),
)


@dataclass(frozen=True)
class CronExpr:
    """A parsed cron expression: the values each field allows, and which fields start with `*`.

    The `*` flags matter beyond the values: they pick Vixie cron's day rule (`matches_day`) and its
    daylight-saving rule (`is_wildcard_job`), so `*/1` and `0-59` allow the same minutes but behave differently.
    """

    source: str
    """The expression as written (macros not expanded), for messages."""
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]
    """0 is Sunday; a written 7 is stored as 0."""
    minute_star: bool
    hour_star: bool
    dom_star: bool
    dow_star: bool

    @property
    def is_wildcard_job(self) -> bool:
        """Whether the schedule follows the wall clock through daylight-saving changes (see `firing`)."""
        return self.minute_star or self.hour_star

    def matches_day(self, day: date) -> bool:
        """Vixie cron's day rule: if either day field starts with `*` both must match, else either may."""
        if day.month not in self.months:
            return False
        dom_ok = day.day in self.days_of_month
        dow_ok = day.isoweekday() % 7 in self.days_of_week
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def matches(self, wall: datetime) -> bool:
        """Whether a wall-clock reading (seconds ignored) is one the expression names."""
        return wall.minute in self.minutes and wall.hour in self.hours and self.matches_day(wall.date())


def is_wildcard_job(expr: CronExpr) -> bool:
    """Whether the minute or hour field starts with `*`: such a job follows the wall clock across DST."""
    return expr.is_wildcard_job


def parse_cron(expr: str) -> CronExpr:
    """Read a five-field expression or a macro; raise InvalidSchedule naming the first problem."""
    source = expr.strip()
    if not source:
        raise InvalidSchedule("cron: the expression is empty")
    text = source
    if source.startswith("@"):
        expanded = MACROS.get(source.lower())
        if expanded is None:
            raise InvalidSchedule(f"cron: unknown macro '{source}'")
        text = expanded
    fields = text.split()
    if len(fields) != len(_FIELDS):
        raise InvalidSchedule(
            f"cron: expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    minutes, hours, doms, months, dows = (
        _parse_field(field, spec) for field, spec in zip(fields, _FIELDS, strict=True)
    )
    parsed = CronExpr(
        source=source,
        minutes=minutes,
        hours=hours,
        days_of_month=doms,
        months=months,
        days_of_week=tuple(sorted({day % 7 for day in dows})),
        minute_star=fields[0].startswith("*"),
        hour_star=fields[1].startswith("*"),
        dom_star=fields[2].startswith("*"),
        dow_star=fields[4].startswith("*"),
    )
    if not _can_fire(parsed):
        raise InvalidSchedule(f"cron: `{source}` never fires")
    return parsed


def _parse_field(text: str, spec: _FieldSpec) -> tuple[int, ...]:
    """One field: a comma-separated list of `*`, `a`, `a-b`, each optionally `/step` (`a/n` means `a-max/n`)."""
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not _NUMBER.fullmatch(step_text) or int(step_text) == 0:
                raise InvalidSchedule(f"cron: {spec.name} step '{step_text}' is not a positive number")
            step = int(step_text)
        if base == "*":
            first, last = spec.low, spec.high
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            first, last = _value(start_text, item, spec), _value(end_text, item, spec)
            if first > last:
                raise InvalidSchedule(f"cron: {spec.name} range {start_text}-{end_text} runs backwards")
        else:
            first = _value(base, item, spec)
            last = spec.high if slash else first
        values.update(range(first, last + 1, step))
    return tuple(sorted(values))


def _value(token: str, item: str, spec: _FieldSpec) -> int:
    """One number or name inside a field item, checked against the field's range."""
    if _NUMBER.fullmatch(token):
        number = int(token)
        if not spec.low <= number <= spec.high:
            raise InvalidSchedule(f"cron: {spec.name} {number} is out of range {spec.low}-{spec.high}")
        return number
    if spec.names and token.isalpha():
        named = spec.names.get(token.upper())
        if named is None:
            raise InvalidSchedule(f"cron: unknown {spec.name} name '{token}'")
        return named
    raise InvalidSchedule(f"cron: {spec.name} item '{item}' is malformed")


def _can_fire(expr: CronExpr) -> bool:
    """Whether some date ever matches (any hour and minute set is non-empty by construction).

    Under the OR rule (neither day field starts with `*`) every week brings a matching weekday. Under the AND
    rule a month/day pair that exists suffices: over the Gregorian 400-year cycle every date, 29 February
    included, falls on every weekday.
    """
    if not expr.dom_star and not expr.dow_star:
        return True
    return any(day <= _LONGEST_MONTH[month] for month in expr.months for day in expr.days_of_month)


def first_match_at_or_after(expr: CronExpr, wall: datetime) -> datetime | None:
    """The earliest matching wall-clock minute at or after `wall` (naive), or None past LAST_DAY.

    Skips whole months, days and hours that cannot match, so a rare date (29 February) costs a few dozen steps.
    """
    start = wall.replace(second=0, microsecond=0)
    if start != wall:
        if start.date() >= LAST_DAY:
            return None
        start += timedelta(minutes=1)
    day, hour, minute = start.date(), start.hour, start.minute
    if day < FIRST_DAY:
        day, hour, minute = FIRST_DAY, 0, 0
    while day <= LAST_DAY:
        if day.month not in expr.months:
            next_month = _next_in(expr.months, day.month + 1)
            if next_month is None:
                if day.year >= LAST_DAY.year:
                    return None
                day = date(day.year + 1, expr.months[0], 1)
            else:
                day = date(day.year, next_month, 1)
            hour = minute = 0
            continue
        if not expr.matches_day(day):
            day, hour, minute = day + _ONE_DAY, 0, 0
            continue
        next_hour = _next_in(expr.hours, hour)
        if next_hour is None:
            day, hour, minute = day + _ONE_DAY, 0, 0
            continue
        if next_hour != hour:
            hour, minute = next_hour, 0
        next_minute = _next_in(expr.minutes, minute)
        if next_minute is None:
            hour, minute = hour + 1, 0
            continue
        return datetime.combine(day, time(hour, next_minute))
    return None


def last_match_at_or_before(expr: CronExpr, wall: datetime) -> datetime | None:
    """The latest matching wall-clock minute at or before `wall` (naive), or None before FIRST_DAY."""
    day, hour, minute = wall.date(), wall.hour, wall.minute
    if day > LAST_DAY:
        day, hour, minute = LAST_DAY, 23, 59
    while day >= FIRST_DAY:
        if day.month not in expr.months:
            previous_month = _previous_in(expr.months, day.month - 1)
            if previous_month is None:
                day = _last_day_of(day.year - 1, expr.months[-1]) if day.year > FIRST_DAY.year else date.min
            else:
                day = _last_day_of(day.year, previous_month)
            hour, minute = 23, 59
            continue
        if not expr.matches_day(day):
            day, hour, minute = day - _ONE_DAY, 23, 59
            continue
        previous_hour = _previous_in(expr.hours, hour)
        if previous_hour is None:
            day, hour, minute = day - _ONE_DAY, 23, 59
            continue
        if previous_hour != hour:
            hour, minute = previous_hour, 59
        previous_minute = _previous_in(expr.minutes, minute)
        if previous_minute is None:
            hour, minute = hour - 1, 59
            continue
        return datetime.combine(day, time(hour, previous_minute))
    return None


def count_matches_until(expr: CronExpr, clock: time) -> int:
    """How many matching minutes a matching day has at or before `clock` (seconds ignored)."""
    whole_hours = bisect_left(expr.hours, clock.hour)
    count = whole_hours * len(expr.minutes)
    if clock.hour in expr.hours:
        count += bisect_right(expr.minutes, clock.minute)
    return count


def _next_in(values: tuple[int, ...], at_least: int) -> int | None:
    index = bisect_left(values, at_least)
    return values[index] if index < len(values) else None


def _previous_in(values: tuple[int, ...], at_most: int) -> int | None:
    index = bisect_right(values, at_most) - 1
    return values[index] if index >= 0 else None


def _last_day_of(year: int, month: int) -> date:
    return date(year, month, monthrange(year, month)[1])

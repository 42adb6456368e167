"""Fire instants in real zones across real daylight-saving changes (ISC/Vixie cron's rule), and its invariants.

Expected instants are written in UTC with the local reading beside them. The property tests compare against a
reference that walks real time minute by minute, the opposite direction from the implementation's walk over
wall-clock readings.
"""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobwire.schedules.cron import CronExpr, parse_cron
from jobwire.schedules.errors import InvalidSchedule
from jobwire.schedules.firing import (
    CronTicks,
    count_fire_times,
    iter_fire_times,
    next_fire_times,
    previous_fire_times,
)
from jobwire.schedules.zones import clocks_jump_instant, occurrences, parse_time_zone

ONE_MINUTE = timedelta(minutes=1)


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(expr: str, zone: str, after: datetime, count: int) -> list[datetime]:
    return next_fire_times(parse_cron(expr), ZoneInfo(zone), after, count)


# (zone, expression, after, expected UTC instants). Each group states the change it crosses.
CASES = [
    # America/New_York, 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00Z; 02:00-02:59 never happens.
    ("America/New_York", "*/15 * * * *", utc(2026, 3, 8, 6, 40), [
        utc(2026, 3, 8, 6, 45),  # 01:45 EST
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT: 02:00-02:45 are skipped, not run late
        utc(2026, 3, 8, 7, 15),
    ]),
    ("America/New_York", "30 * * * *", utc(2026, 3, 8, 6, 0), [
        utc(2026, 3, 8, 6, 30),  # 01:30 EST
        utc(2026, 3, 8, 7, 30),  # 03:30 EDT; 02:30 does not exist and this is a wildcard job
    ]),
    ("America/New_York", "30 2 * * *", utc(2026, 3, 7, 12, 0), [
        utc(2026, 3, 8, 7, 0),  # 02:30 does not exist: once, when the clocks jump (03:00 EDT)
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]),
    ("America/New_York", "0 3 * * *", utc(2026, 3, 7, 12, 0), [
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT, the first instant after the jump
        utc(2026, 3, 9, 7, 0),
    ]),
    # America/New_York, 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00Z; 01:00-01:59 happens twice.
    ("America/New_York", "*/15 * * * *", utc(2026, 11, 1, 5, 40), [
        utc(2026, 11, 1, 5, 45),  # 01:45 EDT
        utc(2026, 11, 1, 6, 0),  # 01:00 EST, again
        utc(2026, 11, 1, 6, 15),
        utc(2026, 11, 1, 6, 30),
    ]),
    ("America/New_York", "30 * * * *", utc(2026, 11, 1, 4, 0), [
        utc(2026, 11, 1, 4, 30),  # 00:30 EDT
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT
        utc(2026, 11, 1, 6, 30),  # 01:30 EST: a wildcard job runs the repeat
        utc(2026, 11, 1, 7, 30),  # 02:30 EST
    ]),
    ("America/New_York", "0 1 * * *", utc(2026, 10, 31, 12, 0), [
        utc(2026, 11, 1, 5, 0),  # 01:00 EDT only: a fixed job runs the first occurrence
        utc(2026, 11, 2, 6, 0),  # 01:00 EST the next day
    ]),
    ("America/New_York", "30 1 * * *", utc(2026, 11, 1, 5, 45), [
        utc(2026, 11, 2, 6, 30),  # 01:30 EST on 1 Nov is a repeat, already run at 05:30Z
    ]),
    # Europe/Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z.
    ("Europe/Berlin", "30 2 * * *", utc(2026, 3, 28, 12, 0), [
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]),
    ("Europe/Berlin", "0,15,30,45 2 * * *", utc(2026, 3, 28, 12, 0), [
        utc(2026, 3, 29, 1, 0),  # four skipped readings, one run
        utc(2026, 3, 30, 0, 0),
    ]),
    ("Europe/Berlin", "0 2,3 * * *", utc(2026, 3, 28, 12, 0), [
        utc(2026, 3, 29, 1, 0),  # 02:00 (skipped) and 03:00 land on one instant: one run
        utc(2026, 3, 30, 0, 0),
        utc(2026, 3, 30, 1, 0),
    ]),
    ("Europe/Berlin", "*/30 * * * *", utc(2026, 3, 29, 0, 10), [
        utc(2026, 3, 29, 0, 30),  # 01:30 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST
        utc(2026, 3, 29, 1, 30),
    ]),
    # Europe/Berlin, 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z.
    ("Europe/Berlin", "0 2 * * *", utc(2026, 10, 24, 12, 0), [
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST, not 02:00 CET
        utc(2026, 10, 26, 1, 0),
    ]),
    ("Europe/Berlin", "30 * * * *", utc(2026, 10, 24, 23, 0), [
        utc(2026, 10, 24, 23, 30),  # 01:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 30),  # 02:30 CET
        utc(2026, 10, 25, 2, 30),  # 03:30 CET
    ]),
    ("Europe/Berlin", "*/30 2 * * *", utc(2026, 10, 24, 12, 0), [
        utc(2026, 10, 25, 0, 0),  # minute starts with `*`: a wildcard job, both passes run
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 0),
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 26, 1, 0),
    ]),
    # Australia/Lord_Howe, 2026-10-04: 02:00 +10:30 -> 02:30 +11 at 15:30Z (3 Oct); a 30-minute gap.
    ("Australia/Lord_Howe", "15 2 * * *", utc(2026, 10, 2, 12, 0), [
        utc(2026, 10, 2, 15, 45),  # 02:15 +10:30
        utc(2026, 10, 3, 15, 30),  # 02:15 is skipped: at the jump, 02:30 +11
        utc(2026, 10, 4, 15, 15),  # 02:15 +11
    ]),
    ("Australia/Lord_Howe", "*/15 * * * *", utc(2026, 10, 3, 15, 10), [
        utc(2026, 10, 3, 15, 15),  # 01:45 +10:30
        utc(2026, 10, 3, 15, 30),  # 02:30 +11
        utc(2026, 10, 3, 15, 45),
    ]),
    ("Australia/Lord_Howe", "30 2 * * *", utc(2026, 10, 2, 12, 0), [
        utc(2026, 10, 2, 16, 0),  # 02:30 +10:30
        utc(2026, 10, 3, 15, 30),  # 02:30 +11 exists: the first instant after the gap
        utc(2026, 10, 4, 15, 30),
    ]),
    # Australia/Lord_Howe, 2026-04-05: 02:00 +11 -> 01:30 +10:30 at 15:00Z (4 Apr); 01:30-01:59 twice.
    ("Australia/Lord_Howe", "45 1 * * *", utc(2026, 4, 4, 12, 0), [
        utc(2026, 4, 4, 14, 45),  # 01:45 +11 only
        utc(2026, 4, 5, 15, 15),  # 01:45 +10:30 the next day
    ]),
    ("Australia/Lord_Howe", "*/15 * * * *", utc(2026, 4, 4, 14, 40), [
        utc(2026, 4, 4, 14, 45),  # 01:45 +11
        utc(2026, 4, 4, 15, 0),  # 01:30 +10:30, again
        utc(2026, 4, 4, 15, 15),  # 01:45 +10:30, again
        utc(2026, 4, 4, 15, 30),  # 02:00 +10:30
    ]),
    # America/Havana, 2026-03-08: midnight is skipped (00:00 CST -> 01:00 CDT at 05:00Z).
    ("America/Havana", "0 0 * * *", utc(2026, 3, 6, 12, 0), [
        utc(2026, 3, 7, 5, 0),  # 00:00 CST
        utc(2026, 3, 8, 5, 0),  # no midnight: at the jump, 01:00 CDT
        utc(2026, 3, 9, 4, 0),  # 00:00 CDT
    ]),
    ("America/Havana", "*/30 * * * *", utc(2026, 3, 8, 4, 40), [
        utc(2026, 3, 8, 5, 0),  # 01:00 CDT; 00:00 and 00:30 are skipped
        utc(2026, 3, 8, 5, 30),
    ]),
    # America/Havana, 2026-11-01: 01:00 CDT -> 00:00 CST at 05:00Z; 00:00-00:59 twice.
    ("America/Havana", "@daily", utc(2026, 10, 31, 12, 0), [
        utc(2026, 11, 1, 4, 0),  # 00:00 CDT only
        utc(2026, 11, 2, 5, 0),
    ]),
    ("America/Havana", "*/30 0 * * *", utc(2026, 10, 31, 12, 0), [
        utc(2026, 11, 1, 4, 0),  # 00:00 CDT
        utc(2026, 11, 1, 4, 30),
        utc(2026, 11, 1, 5, 0),  # 00:00 CST, again
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 5, 0),
    ]),
    # America/Santiago, 2026-09-06: midnight skipped (00:00 -04 -> 01:00 -03 at 04:00Z).
    ("America/Santiago", "0 0 * * *", utc(2026, 9, 5, 12, 0), [
        utc(2026, 9, 6, 4, 0),
        utc(2026, 9, 7, 3, 0),
    ]),
    # America/Santiago, 2026-04-05: 00:00 -03 -> 23:00 -04 on the 4th at 03:00Z; 23:00-23:59 twice.
    ("America/Santiago", "30 23 * * *", utc(2026, 4, 4, 12, 0), [
        utc(2026, 4, 5, 2, 30),  # 23:30 -03 only
        utc(2026, 4, 6, 3, 30),
    ]),
    # Asia/Gaza, 2026-03-28: 02:00 EET -> 03:00 EEST at 00:00Z.
    ("Asia/Gaza", "30 2 * * *", utc(2026, 3, 27, 12, 0), [
        utc(2026, 3, 28, 0, 0),
        utc(2026, 3, 28, 23, 30),
    ]),
    # Antarctica/Troll, 2026-03-29: 01:00 +00 -> 03:00 +02 at 01:00Z, a two-hour gap.
    ("Antarctica/Troll", "0 1,2 * * *", utc(2026, 3, 28, 12, 0), [
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 23, 0),
        utc(2026, 3, 30, 0, 0),
    ]),
    ("Antarctica/Troll", "0 * * * *", utc(2026, 3, 29, 0, 30), [
        utc(2026, 3, 29, 1, 0),  # 03:00 +02
        utc(2026, 3, 29, 2, 0),
    ]),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "expr", "after", "expected"), CASES)
def test_daylight_saving_changes(zone: str, expr: str, after: datetime, expected: list[datetime]) -> None:
    assert fires(expr, zone, after, len(expected)) == expected


@pytest.mark.parametrize(("zone", "expr", "after", "expected"), CASES)
def test_backwards_mirrors_forwards(zone: str, expr: str, after: datetime, expected: list[datetime]) -> None:
    upto = expected[-1]
    assert previous_fire_times(parse_cron(expr), ZoneInfo(zone), upto, len(expected)) == expected
    assert count_fire_times(parse_cron(expr), ZoneInfo(zone), after, upto) == len(expected)


class TestBasics:
    def test_results_are_utc_and_strictly_after(self) -> None:
        after = utc(2026, 6, 1, 12, 0)
        result = fires("0 12 * * *", "UTC", after, 2)
        assert result == [utc(2026, 6, 2, 12, 0), utc(2026, 6, 3, 12, 0)]
        assert all(instant.tzinfo is UTC for instant in result)

    def test_after_may_be_in_any_zone(self) -> None:
        after = datetime(2026, 6, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 12:00Z
        assert fires("0 12 * * *", "UTC", after, 1) == [utc(2026, 6, 2, 12, 0)]

    def test_accepts_the_text_of_an_expression(self) -> None:
        assert next_fire_times("@hourly", ZoneInfo("UTC"), utc(2026, 6, 1, 0, 30), 1) == [utc(2026, 6, 1, 1)]

    def test_naive_after_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            fires("* * * * *", "UTC", datetime(2026, 6, 1), 1)

    def test_count_zero(self) -> None:
        assert fires("* * * * *", "UTC", utc(2026, 6, 1), 0) == []

    def test_leap_day_only_is_quick(self) -> None:
        assert fires("0 0 29 2 *", "Europe/Berlin", utc(2097, 1, 1), 3) == [
            utc(2104, 2, 28, 23, 0),  # 00:00 CET
            utc(2108, 2, 28, 23, 0),
            utc(2112, 2, 28, 23, 0),
        ]

    def test_vixie_or_rule_through_the_iterator(self) -> None:
        # 1 June 2026 is a Monday: OR rule gives the 1st of each month and every Wednesday.
        assert fires("0 0 1 * WED", "UTC", utc(2026, 6, 1), 4) == [
            utc(2026, 6, 3),
            utc(2026, 6, 10),
            utc(2026, 6, 17),
            utc(2026, 6, 24),
        ]
        assert fires("0 0 31 2 MON", "UTC", utc(2026, 1, 31), 2) == [utc(2026, 2, 2), utc(2026, 2, 9)]

    def test_ends_at_the_end_of_the_calendar(self) -> None:
        assert fires("0 0 1 1 *", "UTC", utc(9998, 6, 1), 5) == [utc(9999, 1, 1)]
        assert previous_fire_times(parse_cron("0 0 1 1 *"), ZoneInfo("UTC"), utc(2, 6, 1), 5) == [utc(2, 1, 1)]

    def test_iterator_is_lazy_and_endless(self) -> None:
        iterator = iter_fire_times(parse_cron("* * * * *"), ZoneInfo("UTC"), utc(2026, 1, 1))
        assert next(iterator) == utc(2026, 1, 1, 0, 1)
        assert next(iterator) == utc(2026, 1, 1, 0, 2)

    def test_cron_ticks(self) -> None:
        ticks = CronTicks(parse_cron("0 * * * *"), ZoneInfo("Asia/Kolkata"))  # +05:30
        assert ticks.after(utc(2026, 1, 1, 0, 0), 2) == [utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 1, 30)]
        assert ticks.at_or_before(utc(2026, 1, 1, 1, 30), 2) == [utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 1, 30)]
        assert ticks.count_between(utc(2026, 1, 1), utc(2026, 1, 2)) == 24

    def test_count_over_a_year_of_minutes(self) -> None:
        expr = parse_cron("* * * * *")
        start, end = utc(2025, 6, 1, 0, 0, 30), utc(2026, 6, 1)
        assert count_fire_times(expr, ZoneInfo("Europe/Berlin"), start, end) == 365 * 24 * 60
        # A wildcard job loses the hour of the spring gap and gains the repeated hour: they cancel over a year.
        assert count_fire_times(expr, ZoneInfo("America/New_York"), start, end) == 365 * 24 * 60

    def test_count_of_a_fixed_job_over_both_changes(self) -> None:
        # 02:30 Berlin: every day once, the skipped day at the jump: 365 runs a year.
        assert count_fire_times(parse_cron("30 2 * * *"), ZoneInfo("Europe/Berlin"), utc(2026), utc(2027)) == 365
        # 01:30 New York is skipped never and repeated once: still once a day.
        assert count_fire_times(parse_cron("30 1 * * *"), ZoneInfo("America/New_York"), utc(2026), utc(2027)) == 365

    def test_count_of_an_empty_range(self) -> None:
        expr = parse_cron("* * * * *")
        assert count_fire_times(expr, ZoneInfo("UTC"), utc(2026, 1, 2), utc(2026, 1, 1)) == 0
        assert count_fire_times(expr, ZoneInfo("UTC"), utc(2026, 1, 1), utc(2026, 1, 1)) == 0
        assert count_fire_times(expr, ZoneInfo("UTC"), utc(2026, 1, 1), utc(2026, 1, 1, 0, 1)) == 1


class TestZones:
    def test_parse_time_zone(self) -> None:
        assert parse_time_zone("Europe/Berlin") == ZoneInfo("Europe/Berlin")

    @pytest.mark.parametrize("name", ["Mars/Base", "", "Europe", "../etc/passwd", "/etc/localtime", "Europe/"])
    def test_unknown_time_zone(self, name: str) -> None:
        with pytest.raises(InvalidSchedule) as caught:
            parse_time_zone(name)
        assert str(caught.value) == f"unknown time zone '{name}'"

    def test_occurrences(self) -> None:
        berlin = ZoneInfo("Europe/Berlin")
        assert occurrences(datetime(2026, 3, 29, 2, 30), berlin) == ()
        assert occurrences(datetime(2026, 10, 25, 2, 30), berlin) == (
            utc(2026, 10, 25, 0, 30),
            utc(2026, 10, 25, 1, 30),
        )
        assert occurrences(datetime(2026, 6, 1, 12, 0), berlin) == (utc(2026, 6, 1, 10, 0),)

    def test_clocks_jump_instant(self) -> None:
        assert clocks_jump_instant(datetime(2026, 10, 4, 2, 10), ZoneInfo("Australia/Lord_Howe")) == utc(
            2026, 10, 3, 15, 30
        )
        with pytest.raises(ValueError, match="not skipped"):
            clocks_jump_instant(datetime(2026, 6, 1, 2, 10), ZoneInfo("Europe/Berlin"))


# --- Properties -----------------------------------------------------------------------------------------------


def synthetic_zone(key: str, standard: str, offset_hours: int, rule: str) -> ZoneInfo:
    """A zone with no recorded history, only a POSIX TZ rule: for changes no real zone makes at present."""
    designation = standard.encode() + b"\0"
    header = b"TZif2" + b"\0" * 15 + struct.pack(">6l", 0, 0, 0, 0, 1, len(designation))
    block = header + struct.pack(">lBB", offset_hours * 3600, 0, 0) + designation
    return ZoneInfo.from_file(io.BytesIO(block + block + b"\n" + rule.encode() + b"\n"), key=key)


# Spring forward from 23:30 to 00:30 and fall back from 00:30 to 23:30: both straddle midnight.
STRADDLING = synthetic_zone("Test/Straddling", "XST", -5, "XST5XDT,M3.2.0/23:30,M11.1.0/0:30")
# Spring forward from 23:00 straight to the next midnight.
JUMP_TO_MIDNIGHT = synthetic_zone("Test/JumpToMidnight", "YST", -5, "YST5YDT,M3.2.0/23,M11.1.0/1")
# Half-hour shifts in the middle of an hour: 01:15 -> 01:45 in spring, 01:45 -> 01:15 in autumn.
MID_HOUR = synthetic_zone("Test/MidHour", "ZST", -5, "ZST5ZDT4:30,M3.2.0/1:15,M11.1.0/1:45")

PROPERTY_ZONES = [
    *(
        ZoneInfo(name)
        for name in (
            "UTC",
            "America/New_York",
            "Europe/Berlin",
            "Europe/Dublin",  # negative daylight saving in the tz database
            "Australia/Lord_Howe",  # 30-minute shift
            "Pacific/Chatham",  # +12:45 / +13:45
            "America/St_Johns",  # -03:30 / -02:30
            "America/Santiago",  # changes at midnight
            "America/Havana",  # changes at midnight
            "Asia/Gaza",
            "Africa/Casablanca",  # clocks go back for Ramadan
            "Antarctica/Troll",  # a two-hour shift
            "Asia/Kolkata",  # no changes at all
        )
    ),
    STRADDLING,
    JUMP_TO_MIDNIGHT,
    MID_HOUR,
]


@cache
def transitions(zone: ZoneInfo) -> tuple[datetime, ...]:
    """The zone's offset changes in 2024-2027, found by sampling every 6 hours and bisecting to the minute."""
    found = []
    instant, end = utc(2024, 1, 1), utc(2028, 1, 1)
    while instant < end:
        later = instant + timedelta(hours=6)
        if instant.astimezone(zone).utcoffset() != later.astimezone(zone).utcoffset():
            low, high = instant, later
            while high - low > ONE_MINUTE:
                middle = low + (high - low) / 2
                middle = middle.replace(second=0, microsecond=0)
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
        instant = later
    return tuple(found) or (utc(2026, 3, 1),)


FIELD_CHOICES = (
    ["*", "*/15", "0", "30", "0,30", "15-45/10", "*/7", "5", "59", "0-59", "10/20"],
    ["*", "*/2", "0", "1", "2", "3", "1-3", "0,2", "23", "*/5", "22-23", "0-23"],
    ["*", "1", "15", "31", "*/10", "29", "1-7", "5,20", "30"],
    ["*", "2", "3,10,11", "*/3", "4,9", "JAN-JUN", "MAR,APR,SEP,OCT"],
    ["*", "0", "MON-FRI", "6,0", "*/2", "SAT", "3"],
)


@st.composite
def expressions(draw: st.DrawFn) -> CronExpr:
    fields = [draw(st.sampled_from(choices)) for choices in FIELD_CHOICES]
    try:
        return parse_cron(" ".join(fields))
    except InvalidSchedule:
        return parse_cron("0 0 * * *")


@st.composite
def cases_near_a_change(draw: st.DrawFn) -> tuple[CronExpr, ZoneInfo, datetime]:
    """An instant up to 30 hours before (or 6 after) an offset change, and an expression likely to match
    readings around it."""
    zone = draw(st.sampled_from(PROPERTY_ZONES))
    change = draw(st.sampled_from(transitions(zone)))
    before = (change - timedelta(microseconds=1)).astimezone(zone)
    after = change.astimezone(zone)
    hour, day = before.hour, before.day
    fields = [
        draw(st.sampled_from(FIELD_CHOICES[0])),
        draw(st.sampled_from(["*", "*/2", f"{hour}", f"{hour}-{after.hour}", f"{after.hour}", "0-23"])),
        draw(st.sampled_from(["*", f"{day}", f"{day},{after.day}", "*/10", "31"])),
        draw(st.sampled_from(["*", f"{before.month}", "*/3"])),
        draw(st.sampled_from(["*", f"{before.isoweekday() % 7}", "MON-FRI", "SAT"])),
    ]
    try:
        expr = parse_cron(" ".join(fields))
    except InvalidSchedule:
        expr = parse_cron("0 0 * * *")
    shift = draw(st.integers(min_value=-30 * 3600, max_value=6 * 3600))
    return expr, zone, change + timedelta(seconds=shift)


def reference_fire_times(expr: CronExpr, zone: ZoneInfo, after: datetime, end: datetime) -> list[datetime]:
    """The rule applied by walking real time minute by minute (offsets here are whole minutes)."""
    found = []
    instant = after.replace(second=0, microsecond=0)
    previous_offset = (instant - ONE_MINUTE).astimezone(zone).utcoffset()
    while instant <= end:
        local = instant.astimezone(zone)
        offset = local.utcoffset()
        assert offset is not None
        assert previous_offset is not None
        wall = local.replace(tzinfo=None, fold=0)
        fire = expr.matches(wall) and (expr.is_wildcard_job or local.fold == 0)
        if not expr.is_wildcard_job and offset > previous_offset:  # the clocks jumped at this instant
            skipped = (instant + previous_offset).replace(tzinfo=None)
            while skipped < (instant + offset).replace(tzinfo=None):
                fire = fire or expr.matches(skipped)
                skipped += ONE_MINUTE
        if fire and instant > after:
            found.append(instant)
        previous_offset = offset
        instant += ONE_MINUTE
    return found


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(case=cases_near_a_change())
def test_matches_the_minute_by_minute_reference(case: tuple[CronExpr, ZoneInfo, datetime]) -> None:
    expr, zone, after = case
    end = after + timedelta(hours=30)
    expected = reference_fire_times(expr, zone, after, end)
    found = next_fire_times(expr, zone, after, len(expected) + 1)
    assert found[: len(expected)] == expected
    assert len(found) == len(expected) + 1
    assert found[-1] > end
    assert count_fire_times(expr, zone, after, end) == len(expected)
    if expected:
        newest = previous_fire_times(expr, zone, end, min(len(expected), 7))
        assert newest == expected[-len(newest) :]


def _is_jump_for(expr: CronExpr, zone: ZoneInfo, instant: datetime) -> bool:
    """Whether `instant` is when the clocks jumped over a reading the expression matches."""
    before = (instant - timedelta(microseconds=1)).astimezone(zone).utcoffset()
    after = instant.astimezone(zone).utcoffset()
    assert before is not None
    assert after is not None
    if after <= before:
        return False
    reading = (instant + before).replace(tzinfo=None)
    while reading < (instant + after).replace(tzinfo=None):
        if expr.matches(reading):
            return True
        reading += ONE_MINUTE
    return False


@PROPERTY_SETTINGS
@given(
    expr=expressions(),
    zone=st.sampled_from(PROPERTY_ZONES),
    after=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_invariants_anywhere(expr: CronExpr, zone: ZoneInfo, after: datetime) -> None:
    tz = zone
    found = next_fire_times(expr, tz, after, 40)
    assert len(found) == 40
    assert all(earlier < later for earlier, later in pairwise(found))  # ascending, unique
    assert found[0] > after
    for instant in found:
        local = instant.astimezone(tz)
        on_the_clock = expr.matches(local.replace(tzinfo=None)) and (expr.is_wildcard_job or local.fold == 0)
        assert on_the_clock or (not expr.is_wildcard_job and _is_jump_for(expr, tz, instant))
    assert previous_fire_times(expr, tz, found[-1], 40) == found


@pytest.mark.parametrize(
    ("zone", "expr", "start", "end", "count"),
    [
        # 23:30 on Sunday 8 March is skipped; the jump lands exactly on Monday's midnight (04:00Z).
        (JUMP_TO_MIDNIGHT, "30 23 * * SUN", utc(2026, 3, 1), utc(2026, 3, 20), 3),
        # 23:45 on 8 March is skipped by a gap that runs past midnight: the jump (04:30Z) is in the 9th.
        (STRADDLING, "45 23 * * SUN", utc(2026, 3, 1), utc(2026, 3, 20), 3),
        # 00:15 on 9 March is skipped by a gap that began the evening before: the jump precedes the 9th's start.
        (STRADDLING, "15 0 9 3 *", utc(2026, 3, 1), utc(2026, 3, 20), 1),
        # 23:30-23:59 on 31 October repeat after 1 November's midnight has begun: a wildcard job runs them twice.
        (STRADDLING, "*/15 23 31 10 *", utc(2026, 10, 25), utc(2026, 11, 10), 6),
        (STRADDLING, "*/15 0 1 11 *", utc(2026, 10, 25), utc(2026, 11, 10), 6),
    ],
)
def test_changes_at_the_edges_of_a_day(zone: ZoneInfo, expr: str, start: datetime, end: datetime, count: int) -> None:
    """Days without matching readings are counted whole; a change at their edges must not hide a run."""
    parsed = parse_cron(expr)
    expected = reference_fire_times(parsed, zone, start, end)
    assert len(expected) == count
    assert next_fire_times(parsed, zone, start, count + 1)[:count] == expected
    assert count_fire_times(parsed, zone, start, end) == count
    assert previous_fire_times(parsed, zone, end, count) == expected

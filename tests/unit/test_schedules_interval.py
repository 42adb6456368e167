"""Go durations, and interval ticks on a grid anchored at the Unix epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobwire.schedules.errors import InvalidSchedule
from jobwire.schedules.interval import (
    INTERVAL_ANCHOR,
    IntervalTicks,
    count_interval_times,
    next_interval_times,
    parse_duration,
    previous_interval_times,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("2h", timedelta(hours=2)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("1h0.5m", timedelta(hours=1, seconds=30)),
        ("2h45m30s", timedelta(hours=2, minutes=45, seconds=30)),
        ("30s1h", timedelta(hours=1, seconds=30)),  # Go accepts any order
        ("1m1m", timedelta(minutes=2)),
        ("250us", timedelta(microseconds=250)),
        ("1000ns", timedelta(microseconds=1)),
        ("0.000001s", timedelta(microseconds=1)),
        ("0s", timedelta(0)),
        ("2562047h", timedelta(hours=2562047)),  # Go's largest whole number of hours
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "duration is empty"),
        ("-1s", "duration '-1s' must not have a sign"),
        ("+1s", "duration '+1s' must not have a sign"),
        ("1", "duration '1' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        ("h", "duration 'h' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        ("1d", "duration '1d' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        ("1 h", "duration '1 h' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        ("1H", "duration '1H' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        (".5s", "duration '.5s' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        ("5.s", "duration '5.s' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        ("soon", "duration 'soon' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        ("1h30", "duration '1h30' is malformed (expected e.g. 90s, 15m, 1h30m)"),
        ("1ns", "duration '1ns' is not a whole number of microseconds"),
        ("1500ns", "duration '1500ns' is not a whole number of microseconds"),
        ("2562048h", "duration '2562048h' is out of range"),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_duration(text)
    assert str(caught.value) == message


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class TestGrid:
    def test_ticks_sit_on_the_epoch_grid(self) -> None:
        assert next_interval_times(timedelta(minutes=15), utc(2026, 6, 1, 12, 7), 3) == [
            utc(2026, 6, 1, 12, 15),
            utc(2026, 6, 1, 12, 30),
            utc(2026, 6, 1, 12, 45),
        ]

    def test_strictly_after(self) -> None:
        assert next_interval_times(timedelta(hours=1), utc(2026, 6, 1, 12), 1) == [utc(2026, 6, 1, 13)]

    def test_odd_intervals_keep_the_epoch_anchor(self) -> None:
        # 7 minutes: ticks are whole multiples of 420 s since 1970-01-01T00:00Z.
        for tick in next_interval_times(timedelta(minutes=7), utc(2026, 6, 1), 50):
            assert (tick - INTERVAL_ANCHOR) % timedelta(minutes=7) == timedelta(0)

    def test_time_zone_of_after_has_no_effect(self) -> None:
        instant = utc(2026, 3, 29, 0, 50)
        in_berlin = instant.astimezone(ZoneInfo("Europe/Berlin"))
        in_lord_howe = instant.astimezone(ZoneInfo("Australia/Lord_Howe"))
        expected = next_interval_times(timedelta(minutes=45), instant, 5)
        assert next_interval_times(timedelta(minutes=45), in_berlin, 5) == expected
        assert next_interval_times(timedelta(minutes=45), in_lord_howe, 5) == expected
        assert all(tick.tzinfo is UTC for tick in expected)

    def test_before_the_epoch(self) -> None:
        assert next_interval_times(timedelta(hours=5), utc(1969, 12, 31, 12), 2) == [
            utc(1969, 12, 31, 14),
            utc(1969, 12, 31, 19),
        ]

    def test_previous_and_count(self) -> None:
        interval = timedelta(minutes=10)
        assert previous_interval_times(interval, utc(2026, 6, 1, 12, 20), 3) == [
            utc(2026, 6, 1, 12, 0),
            utc(2026, 6, 1, 12, 10),
            utc(2026, 6, 1, 12, 20),
        ]
        assert count_interval_times(interval, utc(2026, 6, 1, 12), utc(2026, 6, 1, 13)) == 6
        assert count_interval_times(interval, utc(2026, 6, 1, 13), utc(2026, 6, 1, 12)) == 0
        assert count_interval_times(interval, utc(2025, 6, 1), utc(2026, 6, 1)) == 365 * 24 * 6

    def test_ticks_stop_at_the_end_of_the_calendar(self) -> None:
        last = next_interval_times(timedelta(days=365), utc(9999, 6, 1), 3)
        assert len(last) == 1
        assert last[0].year == 9999
        first = previous_interval_times(timedelta(days=365), utc(1, 6, 1), 3)
        assert len(first) == 1
        assert first[0].year == 1

    @pytest.mark.parametrize("interval", [timedelta(0), timedelta(seconds=-1)])
    def test_interval_must_be_positive(self, interval: timedelta) -> None:
        with pytest.raises(InvalidSchedule, match="interval must be positive"):
            next_interval_times(interval, utc(2026), 1)

    def test_naive_instant_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            next_interval_times(timedelta(minutes=1), datetime(2026, 1, 1), 1)

    def test_interval_ticks(self) -> None:
        ticks = IntervalTicks(timedelta(seconds=90))
        assert ticks.after(utc(2026, 1, 1), 2) == [utc(2026, 1, 1, 0, 1, 30), utc(2026, 1, 1, 0, 3)]
        assert ticks.at_or_before(utc(2026, 1, 1, 0, 3), 2) == [utc(2026, 1, 1, 0, 1, 30), utc(2026, 1, 1, 0, 3)]
        assert ticks.count_between(utc(2026, 1, 1), utc(2026, 1, 1, 0, 3)) == 2


@settings(max_examples=200, deadline=None, database=None)
@given(
    seconds=st.integers(min_value=1, max_value=7 * 24 * 3600),
    first=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    later_by=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
)
def test_any_after_lands_on_the_same_grid(seconds: int, first: datetime, later_by: timedelta) -> None:
    """A restart (a different `after`) never shifts the ticks: two walks agree wherever they overlap."""
    interval = timedelta(seconds=seconds)
    early = next_interval_times(interval, first, 40)
    late = next_interval_times(interval, first + later_by, 40)
    assert early[0] - first <= interval
    assert early[0] > first
    assert set(late) & set(early) == {tick for tick in late if tick <= early[-1]}
    assert all((tick - INTERVAL_ANCHOR) % interval == timedelta(0) for tick in early + late)
    assert all(b - a == interval for a, b in pairwise(early))

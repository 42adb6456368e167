"""Cron parsing, Vixie cron's day rule, never-firing detection and wall-clock matching (no time zones)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from jobwire.schedules.cron import (
    MACROS,
    count_matches_until,
    first_match_at_or_after,
    is_wildcard_job,
    last_match_at_or_before,
    parse_cron,
)
from jobwire.schedules.errors import InvalidSchedule

ALL_MINUTES = tuple(range(60))


class TestFieldSyntax:
    def test_star_allows_every_value(self) -> None:
        expr = parse_cron("* * * * *")
        assert expr.minutes == ALL_MINUTES
        assert expr.hours == tuple(range(24))
        assert expr.days_of_month == tuple(range(1, 32))
        assert expr.months == tuple(range(1, 13))
        assert expr.days_of_week == tuple(range(7))

    @pytest.mark.parametrize(
        ("field", "minutes"),
        [
            ("5", (5,)),
            ("0,30", (0, 30)),
            ("10-13", (10, 11, 12, 13)),
            ("*/15", (0, 15, 30, 45)),
            ("10-30/10", (10, 20, 30)),
            ("50/3", (50, 53, 56, 59)),  # a/n means a-59/n
            ("1,5-7,20-40/10,59", (1, 5, 6, 7, 20, 30, 40, 59)),
            ("*/100", (0,)),
            ("07", (7,)),
            ("3,3,3", (3,)),
        ],
    )
    def test_minute_forms(self, field: str, minutes: tuple[int, ...]) -> None:
        assert parse_cron(f"{field} * * * *").minutes == minutes

    def test_month_names_in_any_case(self) -> None:
        assert parse_cron("0 0 1 jan,Mar,DEC *").months == (1, 3, 12)
        assert parse_cron("0 0 1 FEB-apr *").months == (2, 3, 4)
        assert parse_cron("0 0 1 JAN/4 *").months == (1, 5, 9)

    def test_day_names_in_any_case(self) -> None:
        assert parse_cron("0 0 * * mon-FRI").days_of_week == (1, 2, 3, 4, 5)
        assert parse_cron("0 0 * * Sun,sat").days_of_week == (0, 6)

    @pytest.mark.parametrize("field", ["0", "7", "SUN", "sun"])
    def test_zero_and_seven_are_sunday(self, field: str) -> None:
        assert parse_cron(f"0 0 * * {field}").days_of_week == (0,)

    def test_ranges_may_end_on_seven(self) -> None:
        assert parse_cron("0 0 * * 5-7").days_of_week == (0, 5, 6)
        assert parse_cron("0 0 * * 0-7").days_of_week == tuple(range(7))
        assert parse_cron("0 0 * * */2").days_of_week == (0, 2, 4, 6)

    def test_whitespace_between_fields_is_free(self) -> None:
        assert parse_cron("  0\t12   * *  *\n").hours == (12,)

    @pytest.mark.parametrize(
        ("macro", "same_as"),
        [
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@hourly", "0 * * * *"),
            ("@DAILY", "0 0 * * *"),
        ],
    )
    def test_macros(self, macro: str, same_as: str) -> None:
        parsed, expected = parse_cron(macro), parse_cron(same_as)
        assert parsed.source == macro
        assert (parsed.minutes, parsed.hours, parsed.days_of_month, parsed.months, parsed.days_of_week) == (
            expected.minutes,
            expected.hours,
            expected.days_of_month,
            expected.months,
            expected.days_of_week,
        )
        assert parsed.is_wildcard_job == expected.is_wildcard_job

    def test_every_macro_is_covered(self) -> None:
        assert set(MACROS) == {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


class TestStarFlags:
    @pytest.mark.parametrize(
        ("expr", "minute_star", "hour_star", "wildcard"),
        [
            ("* * * * *", True, True, True),
            ("*/15 * * * *", True, True, True),
            ("30 * * * *", False, True, True),  # `*` in the hour field: a wildcard job
            ("0 */2 * * *", False, True, True),
            ("*/5 3 * * *", True, False, True),
            ("30 2 * * *", False, False, False),
            ("0-59 2 * * *", False, False, False),  # every minute, but not written with `*`
            ("@hourly", False, True, True),
            ("@daily", False, False, False),
        ],
    )
    def test_minute_and_hour(self, expr: str, minute_star: bool, hour_star: bool, wildcard: bool) -> None:
        parsed = parse_cron(expr)
        assert (parsed.minute_star, parsed.hour_star) == (minute_star, hour_star)
        assert is_wildcard_job(parsed) is wildcard

    @pytest.mark.parametrize(
        ("expr", "dom_star", "dow_star"),
        [
            ("0 0 * * *", True, True),
            ("0 0 */2 * MON", True, False),
            ("0 0 1 * *", False, True),
            ("0 0 1 * MON", False, False),
            ("0 0 1-31 * 0-7", False, False),  # everything, but written without `*`
        ],
    )
    def test_day_fields(self, expr: str, dom_star: bool, dow_star: bool) -> None:
        parsed = parse_cron(expr)
        assert (parsed.dom_star, parsed.dow_star) == (dom_star, dow_star)


class TestErrors:
    @pytest.mark.parametrize(
        ("expr", "message"),
        [
            ("", "cron: the expression is empty"),
            ("   ", "cron: the expression is empty"),
            ("* * * *", "cron: expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
            ("* * * * * *", "cron: expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
            ("@reboot", "cron: unknown macro '@reboot'"),
            ("60 * * * *", "cron: minute 60 is out of range 0-59"),
            ("0 24 * * *", "cron: hour 24 is out of range 0-23"),
            ("0 0 32 * *", "cron: day-of-month 32 is out of range 1-31"),
            ("0 0 0 * *", "cron: day-of-month 0 is out of range 1-31"),
            ("0 0 1 13 *", "cron: month 13 is out of range 1-12"),
            ("0 0 1 0 *", "cron: month 0 is out of range 1-12"),
            ("0 0 * * 8", "cron: day-of-week 8 is out of range 0-7"),
            ("0 0 1 FOO *", "cron: unknown month name 'FOO'"),
            ("0 0 * * Funday", "cron: unknown day-of-week name 'Funday'"),
            ("0 0 * * MONDAY", "cron: unknown day-of-week name 'MONDAY'"),
            ("MON * * * *", "cron: minute item 'MON' is malformed"),
            ("*/0 * * * *", "cron: minute step '0' is not a positive number"),
            ("*/ * * * *", "cron: minute step '' is not a positive number"),
            ("*/5/2 * * * *", "cron: minute step '5/2' is not a positive number"),
            ("*/-1 * * * *", "cron: minute step '-1' is not a positive number"),
            ("30-10 * * * *", "cron: minute range 30-10 runs backwards"),
            ("0 0 * * FRI-MON", "cron: day-of-week range FRI-MON runs backwards"),
            ("1,,2 * * * *", "cron: minute item '' is malformed"),
            ("1, * * * *", "cron: minute item '' is malformed"),
            ("-5 * * * *", "cron: minute item '-5' is malformed"),
            ("1-2-3 * * * *", "cron: minute item '1-2-3' is malformed"),
            ("? * * * *", "cron: minute item '?' is malformed"),
            ("0 0 ** * *", "cron: day-of-month item '**' is malformed"),
            ("0 0 ² * *", "cron: day-of-month item '²' is malformed"),
        ],
    )
    def test_message_names_the_problem(self, expr: str, message: str) -> None:
        with pytest.raises(InvalidSchedule) as caught:
            parse_cron(expr)
        assert str(caught.value) == message
        assert "\n" not in str(caught.value)

    def test_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="out of range"):
            parse_cron("99 * * * *")


class TestNeverFires:
    @pytest.mark.parametrize(
        "expr",
        [
            "0 0 31 2 *",
            "0 0 30 2 *",
            "0 0 30,31 2 *",
            "0 0 31 4,6,9,11 *",
            "0 0 31 APR *",
            "0 0 31 2 */1",  # `*` in day-of-week: both must match, and 31 February never comes
            "0 0 30-31 2 *",
        ],
    )
    def test_rejected(self, expr: str) -> None:
        with pytest.raises(InvalidSchedule) as caught:
            parse_cron(expr)
        assert str(caught.value) == f"cron: `{expr}` never fires"

    @pytest.mark.parametrize(
        "expr",
        [
            "0 0 29 2 *",  # leap years
            "0 0 31 2 MON",  # OR rule: every Monday in February
            "0 0 30,31 2 0",
            "0 0 31 1-2 *",  # 31 January
            "0 0 31 */2 *",
            "0 0 * 2 MON",
            "0 0 29 2 */1",  # AND rule, but 29 February falls on every weekday over the years
            "0 0 */31 2 *",  # */31 is the 1st
        ],
    )
    def test_accepted(self, expr: str) -> None:
        parse_cron(expr)


class TestVixieDayRule:
    # June 2026: the 1st is a Monday, the 2nd a Tuesday, the 8th a Monday, the 3rd a Wednesday.
    @pytest.mark.parametrize(
        ("expr", "day", "matches"),
        [
            # Neither field starts with `*`: either may match.
            ("0 0 1 * WED", date(2026, 6, 1), True),
            ("0 0 1 * WED", date(2026, 6, 3), True),
            ("0 0 1 * WED", date(2026, 6, 2), False),
            ("0 0 1-7 * MON", date(2026, 6, 5), True),  # the classic surprise: not "first Monday"
            ("0 0 1-7 * MON", date(2026, 6, 15), True),
            ("0 0 1-7 * MON", date(2026, 6, 16), False),
            # Day-of-month starts with `*`: both must match.
            ("0 0 */2 * MON", date(2026, 6, 1), True),
            ("0 0 */2 * MON", date(2026, 6, 8), False),  # a Monday, but an even day
            ("0 0 */2 * MON", date(2026, 6, 3), False),  # an odd day, but a Wednesday
            ("0 0 * * MON", date(2026, 6, 8), True),
            ("0 0 * * MON", date(2026, 6, 9), False),
            # Day-of-week starts with `*`: both must match.
            ("0 0 3 * *", date(2026, 6, 3), True),
            ("0 0 3 * *", date(2026, 6, 4), False),
            ("0 0 3 * */1", date(2026, 6, 3), True),
            ("0 0 3 * */2", date(2026, 6, 3), False),  # 3 June 2026 is a Wednesday (3)
            # The month always has to match.
            ("0 0 1 JUL MON", date(2026, 6, 1), False),
            ("0 0 1 JUL MON", date(2026, 7, 6), True),
            ("0 0 1 * SUN", date(2026, 6, 7), True),
            ("0 0 1 * 7", date(2026, 6, 7), True),
        ],
    )
    def test_matches_day(self, expr: str, day: date, matches: bool) -> None:
        assert parse_cron(expr).matches_day(day) is matches

    def test_matches_a_reading(self) -> None:
        expr = parse_cron("30 2 1 * *")
        assert expr.matches(datetime(2026, 6, 1, 2, 30, 59))
        assert not expr.matches(datetime(2026, 6, 1, 2, 31))
        assert not expr.matches(datetime(2026, 6, 2, 2, 30))


class TestWallClockSearch:
    def test_first_match_is_inclusive(self) -> None:
        expr = parse_cron("30 2 * * *")
        assert first_match_at_or_after(expr, datetime(2026, 6, 1, 2, 30)) == datetime(2026, 6, 1, 2, 30)

    def test_first_match_rounds_seconds_up(self) -> None:
        expr = parse_cron("* * * * *")
        assert first_match_at_or_after(expr, datetime(2026, 6, 1, 2, 30, 0, 1)) == datetime(2026, 6, 1, 2, 31)

    def test_first_match_crosses_years(self) -> None:
        expr = parse_cron("0 0 1 1 *")
        assert first_match_at_or_after(expr, datetime(2026, 1, 1, 0, 1)) == datetime(2027, 1, 1)

    def test_first_match_finds_the_next_leap_day(self) -> None:
        expr = parse_cron("0 0 29 2 *")
        assert first_match_at_or_after(expr, datetime(2097, 3, 1)) == datetime(2104, 2, 29)

    def test_last_match_is_inclusive_and_ignores_seconds(self) -> None:
        expr = parse_cron("30 2 * * *")
        assert last_match_at_or_before(expr, datetime(2026, 6, 1, 2, 30, 59)) == datetime(2026, 6, 1, 2, 30)
        assert last_match_at_or_before(expr, datetime(2026, 6, 1, 2, 29)) == datetime(2026, 5, 31, 2, 30)

    def test_last_match_crosses_years(self) -> None:
        expr = parse_cron("15 10 31 DEC *")
        assert last_match_at_or_before(expr, datetime(2026, 12, 31, 10, 14)) == datetime(2025, 12, 31, 10, 15)
        assert last_match_at_or_before(parse_cron("0 0 29 2 *"), datetime(2104, 2, 28)) == datetime(2096, 2, 29)

    def test_search_ends_at_the_edges_of_the_calendar(self) -> None:
        assert first_match_at_or_after(parse_cron("0 0 1 1 *"), datetime(9999, 6, 1)) is None
        assert last_match_at_or_before(parse_cron("0 0 31 12 *"), datetime(1, 6, 1)) is None
        assert first_match_at_or_after(parse_cron("0 0 * * *"), datetime.max) is None

    def test_count_matches_until(self) -> None:
        expr = parse_cron("0,30 1,3 * * *")
        assert count_matches_until(expr, time(0, 59)) == 0
        assert count_matches_until(expr, time(1, 0)) == 1
        assert count_matches_until(expr, time(2, 0)) == 2
        assert count_matches_until(expr, time(3, 30, 1)) == 4
        assert count_matches_until(expr, time(23, 59)) == 4

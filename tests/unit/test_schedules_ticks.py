"""Catch-up planning with an injected `now`: each policy, deadlines, suspensions, and a year-long outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

import jobwire.schedules as schedules
from jobwire.api.schedule import CatchUpPolicy
from jobwire.schedules import (
    NONE_POLICY_GRACE,
    SKIPPED_EXAMPLES,
    CatchUp,
    CronTicks,
    IntervalTicks,
    InvalidSchedule,
    SkippedTicks,
    SkipReason,
    TickPlan,
    parse_cron,
    plan_ticks,
    tick_source,
    upcoming,
)


def at(hour: int, minute: int, second: int = 0) -> datetime:
    """An instant on 1 June 2026 (UTC)."""
    return datetime(2026, 6, 1, hour, minute, second, tzinfo=UTC)


EVERY_MINUTE = CronTicks(parse_cron("* * * * *"), ZoneInfo("UTC"))
EVERY_FIVE = CronTicks(parse_cron("*/5 * * * *"), ZoneInfo("UTC"))
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def plan(ticks: CronTicks | IntervalTicks, now: datetime, catch_up: CatchUp, **options: object) -> TickPlan:
    arguments: dict[str, object] = {"last_scheduled": at(12, 0), "created": CREATED, "max_runs": 10}
    arguments.update(options)
    return plan_ticks(ticks, now=now, catch_up=catch_up, **arguments)  # type: ignore[arg-type]


def reasons(result: TickPlan) -> dict[str, int]:
    return {group.reason: group.count for group in result.skipped}


class TestSteadyRunning:
    @pytest.mark.parametrize("catch_up", get_args(CatchUp))
    def test_the_tick_just_passed_runs(self, catch_up: CatchUp) -> None:
        result = plan(EVERY_MINUTE, at(12, 1, 5), catch_up)
        assert result == TickPlan(due=(at(12, 1),), skipped=(), next=at(12, 2))

    @pytest.mark.parametrize("catch_up", get_args(CatchUp))
    def test_nothing_due_between_ticks(self, catch_up: CatchUp) -> None:
        result = plan(EVERY_MINUTE, at(12, 0, 30), catch_up)
        assert result == TickPlan(due=(), skipped=(), next=at(12, 1))

    def test_a_tick_exactly_now_is_due(self) -> None:
        assert plan(EVERY_MINUTE, at(12, 1), "Latest").due == (at(12, 1),)

    def test_the_last_scheduled_tick_is_not_run_again(self) -> None:
        assert plan(EVERY_MINUTE, at(12, 0, 59), "All", last_scheduled=at(12, 0)).due == ()

    def test_nothing_before_creation(self) -> None:
        result = plan(EVERY_MINUTE, at(12, 3, 10), "All", last_scheduled=None, created=at(12, 1))
        assert result.due == (at(12, 2), at(12, 3))  # 12:01 itself is not after creation
        assert result.skipped == ()

    def test_creation_after_the_last_schedule_wins(self) -> None:
        # A Schedule deleted and re-created under the same name: its old status must not bring back old ticks.
        result = plan(EVERY_MINUTE, at(12, 10, 10), "All", last_scheduled=at(11, 0), created=at(12, 8, 30))
        assert result.due == (at(12, 9), at(12, 10))


class TestCatchUpNone:
    def test_newest_runs_within_the_grace(self) -> None:
        result = plan(EVERY_FIVE, at(12, 10, 30), "None")  # 12:05 and 12:10 missed; 12:10 is 30 s late
        assert result.due == (at(12, 10),)
        assert result.skipped == (SkippedTicks(SkipReason.MISSED_CATCH_UP_NONE, 1, (at(12, 5),)),)
        assert result.next == at(12, 15)

    def test_too_late_for_the_grace(self) -> None:
        result = plan(EVERY_FIVE, at(12, 10) + NONE_POLICY_GRACE + timedelta(seconds=1), "None")
        assert result.due == ()
        assert result.skipped == (SkippedTicks(SkipReason.MISSED_CATCH_UP_NONE, 2, (at(12, 5), at(12, 10))),)

    def test_the_grace_is_inclusive(self) -> None:
        assert plan(EVERY_FIVE, at(12, 10) + NONE_POLICY_GRACE, "None").due == (at(12, 10),)

    def test_the_starting_deadline_replaces_the_grace(self) -> None:
        deadline = timedelta(minutes=5)
        result = plan(EVERY_FIVE, at(12, 12), "None", starting_deadline=deadline)
        assert result.due == (at(12, 10),)  # two minutes late: within the deadline
        assert result.skipped == (SkippedTicks(SkipReason.STARTING_DEADLINE_EXCEEDED, 1, (at(12, 5),)),)


class TestCatchUpLatest:
    def test_runs_only_the_newest_missed_tick(self) -> None:
        result = plan(EVERY_MINUTE, at(12, 10, 30), "Latest")
        assert result.due == (at(12, 10),)
        assert result.skipped == (
            SkippedTicks(SkipReason.MISSED_CATCH_UP_LATEST, 9, tuple(at(12, minute) for minute in range(5, 10))),
        )
        assert result.skipped_count == 9
        assert result.next == at(12, 11)

    def test_without_a_deadline_even_an_old_tick_runs(self) -> None:
        result = plan(EVERY_FIVE, at(18, 2), "Latest")
        assert result.due == (at(18, 0),)
        assert reasons(result) == {"MissedCatchUpLatest": 71}

    def test_deadline_exceeded(self) -> None:
        result = plan(EVERY_FIVE, at(12, 10, 30), "Latest", starting_deadline=timedelta(seconds=20))
        assert result.due == ()
        assert result.skipped == (SkippedTicks(SkipReason.STARTING_DEADLINE_EXCEEDED, 2, (at(12, 5), at(12, 10))),)

    def test_deadline_met(self) -> None:
        result = plan(EVERY_FIVE, at(12, 10, 30), "Latest", starting_deadline=timedelta(seconds=30))
        assert result.due == (at(12, 10),)
        assert reasons(result) == {"StartingDeadlineExceeded": 1}

    def test_zero_deadline_allows_only_a_tick_exactly_now(self) -> None:
        assert plan(EVERY_FIVE, at(12, 10), "Latest", starting_deadline=timedelta(0)).due == (at(12, 10),)
        assert plan(EVERY_FIVE, at(12, 10, 1), "Latest", starting_deadline=timedelta(0)).due == ()


class TestCatchUpAll:
    def test_runs_every_missed_tick_in_order(self) -> None:
        result = plan(EVERY_MINUTE, at(12, 4, 10), "All")
        assert result.due == (at(12, 1), at(12, 2), at(12, 3), at(12, 4))
        assert result.skipped == ()

    def test_at_most_max_runs_newest(self) -> None:
        result = plan(EVERY_MINUTE, at(12, 10, 10), "All", max_runs=3)
        assert result.due == (at(12, 8), at(12, 9), at(12, 10))
        assert result.skipped == (
            SkippedTicks(SkipReason.MISSED_TOO_MANY, 7, tuple(at(12, minute) for minute in range(3, 8))),
        )

    def test_deadline_first_then_max_runs(self) -> None:
        result = plan(EVERY_MINUTE, at(12, 10, 10), "All", max_runs=3, starting_deadline=timedelta(minutes=4))
        assert result.due == (at(12, 8), at(12, 9), at(12, 10))
        assert reasons(result) == {"StartingDeadlineExceeded": 6, "MissedTooMany": 1}
        assert [group.reason for group in result.skipped] == ["StartingDeadlineExceeded", "MissedTooMany"]

    def test_across_a_spring_forward(self) -> None:
        ticks = CronTicks(parse_cron("30 2 * * *"), ZoneInfo("Europe/Berlin"))
        result = plan_ticks(
            ticks,
            last_scheduled=datetime(2026, 3, 27, 1, 30, tzinfo=UTC),
            created=CREATED,
            now=datetime(2026, 3, 30, 12, 0, tzinfo=UTC),
            catch_up="All",
            max_runs=10,
        )
        assert result.due == (
            datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 02:30 skipped: at the jump
            datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        )


class TestSuspension:
    def test_ticks_in_a_suspension_never_run(self) -> None:
        result = plan(EVERY_MINUTE, at(12, 10, 10), "All", not_before=at(12, 7))
        assert result.due == (at(12, 7), at(12, 8), at(12, 9), at(12, 10))
        assert result.skipped == (
            SkippedTicks(SkipReason.SUSPENDED, 6, tuple(at(12, minute) for minute in range(2, 7))),
        )

    def test_latest_does_not_reach_into_the_suspension(self) -> None:
        result = plan(EVERY_FIVE, at(12, 12), "Latest", not_before=at(12, 11))
        assert result.due == ()
        assert reasons(result) == {"Suspended": 2}
        assert result.next == at(12, 15)

    def test_suspension_ending_in_the_future(self) -> None:
        result = plan(EVERY_FIVE, at(12, 12), "All", not_before=at(12, 40))
        assert result.due == ()
        assert reasons(result) == {"Suspended": 2}
        assert result.next == at(12, 40)

    def test_suspension_before_the_last_schedule_changes_nothing(self) -> None:
        assert plan(EVERY_MINUTE, at(12, 1, 5), "Latest", not_before=at(11, 0)).due == (at(12, 1),)


class TestYearLongOutage:
    """A `* * * * *` schedule whose operator was down for a year: planned from counts, not a list of ticks."""

    TICKS = CronTicks(parse_cron("* * * * *"), ZoneInfo("Europe/Berlin"))
    LAST = datetime(2025, 6, 1, tzinfo=UTC)
    NOW = datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC)
    MISSED = 365 * 24 * 60  # 2025-06-01T00:01Z .. 2026-06-01T00:00Z

    def year(self, catch_up: CatchUp, **options: object) -> TickPlan:
        return plan_ticks(
            self.TICKS,
            last_scheduled=self.LAST,
            created=datetime(2025, 1, 1, tzinfo=UTC),
            now=self.NOW,
            catch_up=catch_up,
            **options,  # type: ignore[arg-type]
        )

    def newest(self, count: int, *, before: int = 0) -> tuple[datetime, ...]:
        end = datetime(2026, 6, 1, tzinfo=UTC) - timedelta(minutes=before)
        return tuple(end - timedelta(minutes=index) for index in reversed(range(count)))

    def test_none(self) -> None:
        result = self.year("None")
        assert result.due == self.newest(1)
        assert result.skipped == (
            SkippedTicks(SkipReason.MISSED_CATCH_UP_NONE, self.MISSED - 1, self.newest(5, before=1)),
        )
        assert result.next == datetime(2026, 6, 1, 0, 1, tzinfo=UTC)

    def test_latest(self) -> None:
        result = self.year("Latest")
        assert result.due == self.newest(1)
        assert result.skipped_count == self.MISSED - 1

    def test_all(self) -> None:
        result = self.year("All", max_runs=10)
        assert result.due == self.newest(10)
        assert result.skipped == (
            SkippedTicks(SkipReason.MISSED_TOO_MANY, self.MISSED - 10, self.newest(SKIPPED_EXAMPLES, before=10)),
        )

    def test_all_with_deadline_and_suspension(self) -> None:
        result = self.year(
            "All", max_runs=1000, starting_deadline=timedelta(hours=1), not_before=datetime(2026, 1, 1, tzinfo=UTC)
        )
        assert result.due == self.newest(60)
        assert reasons(result) == {
            "Suspended": 214 * 24 * 60 - 1,  # 2025-06-01T00:01Z up to 2025-12-31T23:59Z
            "StartingDeadlineExceeded": 151 * 24 * 60 - 60 + 1,  # from 2026-01-01T00:00Z, an hour short of now
        }
        assert result.skipped_count + len(result.due) == self.MISSED


class TestUpcomingAndValidation:
    def test_upcoming(self) -> None:
        assert upcoming(EVERY_FIVE, at(12, 2)) == [at(12, 5), at(12, 10), at(12, 15)]
        assert upcoming(IntervalTicks(timedelta(hours=1)), at(12, 0), 2) == [at(13, 0), at(14, 0)]

    def test_interval_ticks_plan_the_same_way(self) -> None:
        result = plan(IntervalTicks(timedelta(minutes=5)), at(12, 10, 30), "Latest")
        assert result.due == (at(12, 10),)
        assert reasons(result) == {"MissedCatchUpLatest": 1}

    def test_policies_match_the_api(self) -> None:
        assert set(get_args(CatchUp)) == {policy.value for policy in CatchUpPolicy}

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"catch_up": "Sometimes"}, "unknown catch-up policy 'Sometimes'"),
            ({"max_runs": 0}, "max_runs must be at least 1"),
            ({"starting_deadline": timedelta(seconds=-1)}, "starting_deadline must not be negative"),
        ],
    )
    def test_bad_arguments(self, options: dict[str, object], message: str) -> None:
        arguments: dict[str, object] = {"catch_up": "Latest", "max_runs": 10, "starting_deadline": None}
        arguments.update(options)
        with pytest.raises(ValueError, match=message):
            plan_ticks(EVERY_MINUTE, last_scheduled=None, created=CREATED, now=at(12, 0), **arguments)  # type: ignore[arg-type]


class TestTickSource:
    def test_cron(self) -> None:
        ticks = tick_source(cron="30 2 * * *", interval=None, time_zone="Europe/Berlin")
        assert ticks.after(datetime(2026, 3, 28, 12, tzinfo=UTC), 1) == [datetime(2026, 3, 29, 1, tzinfo=UTC)]

    def test_interval(self) -> None:
        assert tick_source(cron=None, interval="1h30m") == IntervalTicks(timedelta(hours=1, minutes=30))

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ({"cron": "0 0 31 2 *", "interval": None}, "cron: `0 0 31 2 *` never fires"),
            ({"cron": "0 0 * * *", "interval": None, "time_zone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
            ({"cron": None, "interval": "0s"}, "interval '0s' must be positive"),
            ({"cron": None, "interval": "soon"}, "duration 'soon' is malformed (expected e.g. 90s, 15m, 1h30m)"),
            ({"cron": "@daily", "interval": "1h"}, "exactly one of cron and interval must be set"),
            ({"cron": None, "interval": None}, "exactly one of cron and interval must be set"),
        ],
    )
    def test_invalid(self, spec: dict[str, str | None], message: str) -> None:
        with pytest.raises(InvalidSchedule) as caught:
            tick_source(**spec)  # type: ignore[arg-type]
        assert str(caught.value) == message


def test_public_surface() -> None:
    """The package's exports, pinned: a change here is a change to what the rest of the operator may use."""
    assert sorted(schedules.__all__) == sorted(
        [
            "DEFAULT_MAX_RUNS",
            "INTERVAL_ANCHOR",
            "NONE_POLICY_GRACE",
            "SKIPPED_EXAMPLES",
            "CatchUp",
            "CronExpr",
            "CronTicks",
            "IntervalTicks",
            "InvalidSchedule",
            "SkipReason",
            "SkippedTicks",
            "TickPlan",
            "TickSource",
            "count_fire_times",
            "count_interval_times",
            "is_wildcard_job",
            "iter_fire_times",
            "jitter_offset",
            "next_fire_times",
            "next_interval_times",
            "parse_cron",
            "parse_duration",
            "parse_time_zone",
            "plan_ticks",
            "previous_fire_times",
            "previous_interval_times",
            "tick_source",
            "upcoming",
        ]
    )
    assert all(hasattr(schedules, name) for name in schedules.__all__)

"""The time math of the Schedule kind: pure functions of their arguments (no I/O, no clock, no Kubernetes).

- `cron`: parse five-field expressions and match wall-clock readings (Vixie cron's day rule).
- `zones`: wall clock versus real time in an IANA zone.
- `firing`: when a cron schedule fires, with Vixie cron's daylight-saving rule.
- `interval`: Go durations and ticks on an epoch-anchored grid.
- `jitter`: a fixed delay per schedule.
- `ticks`: what to run now after downtime (catch-up, deadlines, suspensions).
- `errors`: `InvalidSchedule`, the one error raised for a schedule that cannot be used.
"""

from __future__ import annotations

from jobwire.schedules.cron import CronExpr, is_wildcard_job, parse_cron
from jobwire.schedules.errors import InvalidSchedule
from jobwire.schedules.firing import (
    CronTicks,
    count_fire_times,
    iter_fire_times,
    next_fire_times,
    previous_fire_times,
)
from jobwire.schedules.interval import (
    INTERVAL_ANCHOR,
    IntervalTicks,
    count_interval_times,
    next_interval_times,
    parse_duration,
    previous_interval_times,
)
from jobwire.schedules.jitter import jitter_offset
from jobwire.schedules.ticks import (
    DEFAULT_MAX_RUNS,
    NONE_POLICY_GRACE,
    SKIPPED_EXAMPLES,
    CatchUp,
    SkippedTicks,
    SkipReason,
    TickPlan,
    TickSource,
    plan_ticks,
    tick_source,
    upcoming,
)
from jobwire.schedules.zones import parse_time_zone

__all__ = [
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

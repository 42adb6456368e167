"""Schedule: Jobs on a clock (cron or interval, in a time zone), with catch-up, jitter and run-now."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from jobwire.api.base import ApiModel, rule, rules
from jobwire.api.common import PRODUCER_RULES, Duration, JobTemplate, ProducerSpec, ProducerStatus

__all__ = ["CatchUpPolicy", "ScheduleSpec", "ScheduleStatus", "ScheduleTiming"]

CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# What CEL can tell at apply time: five fields of cron characters, or one of the macros. The operator's parser
# says the rest (a value out of range, a date that never comes) as Ready=False, reason InvalidSchedule.
CRON_SHAPE = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*,/\-]+(\s+[0-9A-Za-z*,/\-]+){4})$"
TIME_ZONE_SHAPE = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$"


class CatchUpPolicy(StrEnum):
    """Which ticks missed while the operator was down still run when it comes back."""

    NONE = "None"
    LATEST = "Latest"
    ALL = "All"


class ScheduleSpec(ProducerSpec):
    """When to run: exactly one of `cron` and `interval`."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            *PRODUCER_RULES,
            rule(
                "has(self.cron) != has(self.interval)",
                "exactly one of cron and interval must be set",
            ),
            rule(
                "!has(self.interval) || duration(self.interval) >= duration('1s')",
                "interval must be at least 1s",
                field_path=".interval",
            ),
            rule(
                "!has(self.maxRuns) || self.catchUp == 'All'",
                "maxRuns applies only to catchUp All",
                field_path=".maxRuns",
            ),
        )
    )

    job_template: JobTemplate = Field(description="The Job to create for each tick.")
    cron: str | None = Field(
        default=None,
        description="Five-field cron expression (minute hour day-of-month month day-of-week) or a macro "
        "such as @daily. Day-of-month and day-of-week both restricted means either matches (Vixie cron).",
        max_length=256,
        pattern=CRON_SHAPE,
    )
    interval: Duration | None = Field(
        default=None,
        description="Run every interval (90s, 15m, 1h30m), aligned to a fixed anchor so restarts do not shift it.",
    )
    time_zone: str = Field(
        default="UTC",
        description="IANA time zone the cron expression is read in (e.g. Europe/Berlin).",
        max_length=64,
        pattern=TIME_ZONE_SHAPE,
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        description="A tick that could not start within this many seconds of its time is skipped.",
        ge=0,
    )
    catch_up: CatchUpPolicy = Field(
        default=CatchUpPolicy.LATEST,
        description="Ticks missed while the operator was down: None skips them, Latest runs the newest "
        "(CronJob's behaviour), All runs each of them up to maxRuns.",
    )
    max_runs: int | None = Field(
        default=None,
        description="With catchUp All: at most this many missed ticks run (default 10).",
        ge=1,
        le=1000,
    )
    jitter_seconds: int = Field(
        default=0,
        description="Fire up to this many seconds late, by an offset fixed per schedule (from namespace/name).",
        ge=0,
        le=3600,
    )


class ScheduleTiming(ApiModel):
    """The fields that decide when ticks are due, as the operator last planned with them."""

    cron: str | None = None
    interval: str | None = None
    time_zone: str | None = None
    suspend: bool = False


class ScheduleStatus(ProducerStatus):
    """What the Schedule did and will do."""

    last_schedule_time: datetime | None = None
    last_successful_time: datetime | None = None
    next_schedule_times: list[datetime] | None = None
    planned_through: datetime | None = Field(
        default=None, description="Every tick up to this instant has run or was skipped (and is never planned again)."
    )
    not_before: datetime | None = Field(
        default=None,
        description="Ticks before this instant never run: set when a suspension ends or the schedule changes.",
    )
    timing: ScheduleTiming | None = Field(
        default=None,
        description="The timing (cron or interval, timeZone, suspend) the ticks were planned with: a change found "
        "after a restart or a change of leader starts afresh, as one seen live does.",
    )

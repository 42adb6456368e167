"""The one error the schedule math raises.

    ValueError
    └── InvalidSchedule   a cron expression, duration or time zone that cannot be used

Its message is a single line that names the problem, because the operator copies it verbatim into the
Schedule's `Ready=False, reason=InvalidSchedule` condition.
"""

from __future__ import annotations

__all__ = ["InvalidSchedule"]


class InvalidSchedule(ValueError):
    """A schedule that can never be run as written, e.g. "cron: day-of-month 32 is out of range 1-31"."""

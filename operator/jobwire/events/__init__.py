"""Events: the one shape every producer's news takes before it becomes a Job (CloudEvents 1.0).

- `model`: `Event`, `ProducerRef`, the event types, and the stable ids of ticks and manual runs.
"""

from __future__ import annotations

from jobwire.events.model import (
    AUTOMATION_ACTION_FAILED,
    AUTOMATION_TRIGGERED,
    JOB_FAILED,
    JOB_STARTED,
    JOB_SUCCEEDED,
    SENSOR_ITEM,
    TICK,
    WEBHOOK_RECEIVED,
    Event,
    ProducerRef,
    manual_run_id,
    schedule_tick_id,
)

__all__ = [
    "AUTOMATION_ACTION_FAILED",
    "AUTOMATION_TRIGGERED",
    "JOB_FAILED",
    "JOB_STARTED",
    "JOB_SUCCEEDED",
    "SENSOR_ITEM",
    "TICK",
    "WEBHOOK_RECEIVED",
    "Event",
    "ProducerRef",
    "manual_run_id",
    "schedule_tick_id",
]

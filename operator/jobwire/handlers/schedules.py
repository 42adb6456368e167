"""Kopf glue for Schedules: raw watch events into the controller (generation and run-now annotation say what
changed), on the leader only.

Raw events, not Kopf's change detection (on.create/update/field): that keeps the last handled spec in an
annotation every replica would write, and one replica's write could hide a change from another, which then never
runs a run-now. The controller remembers what it synced, and the timing ticks were planned with is in status.
"""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.api.kinds import GROUP, SCHEDULE, VERSION
from jobwire.handlers.context import Context

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(GROUP, VERSION, SCHEDULE.plural, registry=registry, id="schedule-watch")
    async def watch(event: kopf.RawEvent, memo: Context, **_: Any) -> None:
        await memo.leadership.on_event(SCHEDULE.plural, event)

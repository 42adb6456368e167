"""Kopf glue for Sensors: raw watch events into the engine (generation and annotations say what changed)."""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.api.kinds import GROUP, SENSOR, VERSION
from jobwire.handlers.context import Context

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(GROUP, VERSION, SENSOR.plural, registry=registry, id="sensor-watch")
    async def watch(event: kopf.RawEvent, memo: Context, **_: Any) -> None:
        await memo.leadership.on_event(SENSOR.plural, event)  # the engine polls on the leader only

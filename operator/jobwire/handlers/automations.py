"""Kopf glue for Automations: loaded before anything else is watched, then raw watch events into the controller
(generation says what changed)."""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.api.kinds import AUTOMATION, GROUP, VERSION
from jobwire.handlers.context import Context

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.startup(registry=registry, id="automation-preload")
    async def preload(memo: Context, logger: kopf.Logger, **_: Any) -> None:
        """Kopf starts its watches, and says ready, when its startup handlers are done: the Automations that exist
        are loaded by then, so no event a Schedule, a Sensor, a Webhook or a Job's replay publishes at start
        misses one (the Job watch waits for this too: leader/gate.py)."""
        count = await memo.leadership.preload()  # API errors are retried inside, as on a takeover
        logger.info("loaded %d automation(s) before getting ready", count)

    @kopf.on.event(GROUP, VERSION, AUTOMATION.plural, registry=registry, id="automation-watch")
    async def watch(event: kopf.RawEvent, memo: Context, **_: Any) -> None:
        await memo.leadership.on_event(AUTOMATION.plural, event)  # they decide and act on the leader only

"""Kopf glue for Automations: raw watch events into the controller (generation says what changed)."""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.api.kinds import AUTOMATION, GROUP, VERSION
from jobwire.handlers.context import Context

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(GROUP, VERSION, AUTOMATION.plural, registry=registry, id="automation-watch")
    async def watch(event: kopf.RawEvent, memo: Context, **_: Any) -> None:
        await memo.leadership.on_event(AUTOMATION.plural, event)  # they decide and act on the leader only

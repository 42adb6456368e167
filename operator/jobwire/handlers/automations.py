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
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        if event.get("type") == "DELETED":
            await memo.automations.forget(meta.get("namespace", ""), meta.get("name", ""))
        elif memo.automations.is_stale(meta):
            await memo.automations.sync(dict(obj))

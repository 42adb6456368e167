"""Kopf glue for Schedules: load them into the controller, follow spec changes and run-now requests."""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.api.kinds import GROUP, SCHEDULE, VERSION
from jobwire.controllers.schedules import RUN_REQUESTED
from jobwire.handlers.context import Context

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    plural = SCHEDULE.plural

    @kopf.on.resume(GROUP, VERSION, plural, registry=registry, id="schedule-load")
    @kopf.on.create(GROUP, VERSION, plural, registry=registry, id="schedule-load")
    async def load(body: kopf.Body, memo: Context, **_: Any) -> None:
        await memo.schedules.sync(_plain(body), fresh_start=False)

    @kopf.on.update(GROUP, VERSION, plural, field="spec", registry=registry, id="schedule-change")
    async def change(body: kopf.Body, old: Any, new: Any, memo: Context, **_: Any) -> None:
        await memo.schedules.sync(_plain(body), fresh_start=starts_afresh(old or {}, new or {}))

    @kopf.on.field(
        GROUP,
        VERSION,
        plural,
        field=("metadata", "annotations", RUN_REQUESTED),
        registry=registry,
        id="schedule-run-now",
    )
    async def run_now(body: kopf.Body, new: Any, memo: Context, **_: Any) -> None:
        if new:
            await memo.schedules.run_requested(_plain(body), str(new))

    @kopf.on.delete(GROUP, VERSION, plural, registry=registry, optional=True, id="schedule-forget")
    async def forget(name: str, namespace: str | None, memo: Context, **_: Any) -> None:
        memo.schedules.forget(namespace or "", name)


TIMING = ("cron", "interval", "timeZone")


def starts_afresh(old: Any, new: Any) -> bool:
    """A new timing, or the end of a suspension: no tick from before the change is caught up."""
    resumed = bool(old.get("suspend")) and not new.get("suspend")
    return resumed or any(old.get(field) != new.get(field) for field in TIMING)


def _plain(body: kopf.Body) -> dict[str, Any]:
    return {key: body[key] for key in body}

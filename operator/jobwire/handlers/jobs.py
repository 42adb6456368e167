"""Kopf glue for the Jobs Jobwire created: every change goes to the tracker."""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.handlers.context import Context
from jobwire.leader.gate import JOBS

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event("batch", "v1", "jobs", labels={"jobwire.io/kind": kopf.PRESENT}, registry=registry, id="job-track")
    async def track(event: kopf.RawEvent, memo: Context, **_: Any) -> None:
        await memo.leadership.on_event(JOBS, event)  # recorded by the leader only

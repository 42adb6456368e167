"""Status writes: read, change, write back — one writer per resource at a time, optimistic concurrency.

Every status change in Jobwire goes through `StatusWriter.update` with a pure function `status -> status`, so
writers never overwrite each other's fields (the scheduler's lastScheduleTime, the tracker's active Jobs).
"""

from __future__ import annotations

import asyncio
import copy
import weakref
from collections.abc import Callable
from typing import Any

from jobwire.kube.api import JSON, Kube, jobwire_path
from jobwire.kube.errors import Conflict, NotFound

__all__ = ["StatusChange", "StatusWriter"]

StatusChange = Callable[[JSON], JSON]


class StatusWriter:
    def __init__(self, kube: Kube, *, attempts: int = 8) -> None:
        self._kube = kube
        self._attempts = attempts
        self._locks: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def read(self, plural: str, namespace: str, name: str) -> JSON:
        return await self._kube.get(jobwire_path(plural, namespace, name))

    async def update(self, plural: str, namespace: str, name: str, change: StatusChange) -> JSON | None:
        """Apply `change` to the current status; returns the new status, or None if the resource is gone."""
        key = (plural, namespace, name)
        async with self._lock(key):
            for attempt in range(self._attempts):
                try:
                    body = await self.read(plural, namespace, name)
                except NotFound:
                    return None
                current: dict[str, Any] = body.get("status") or {}
                updated = change(copy.deepcopy(current))
                if updated == current:
                    return current
                body["status"] = updated
                try:
                    stored = await self._kube.replace(jobwire_path(plural, namespace, name, subresource="status"), body)
                except NotFound:
                    return None
                except Conflict:
                    await asyncio.sleep(0.01 * (attempt + 1))
                    continue
                result: JSON = stored.get("status") or {}
                return result
            raise Conflict(f"status of {plural}/{namespace}/{name} kept changing; gave up after {self._attempts} tries")

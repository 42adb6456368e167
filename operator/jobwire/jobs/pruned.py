"""The Jobs each producer's history limits deleted (`status.prunedJobs`), known in memory on every replica.

A Job's name is its event's idempotency key only while the Job exists: once the history limits have deleted it,
a retry of the same event (a webhook sender whose 202 was lost) would create it again. The tracker writes the key
of every Job it deletes into the producer's status before deleting it (`history.record_pruned`), and every
replica learns those lists from the producers' watch and from the statuses it reads and writes anyway: dispatch
asks memory, never the API server. A producer not seen yet (a request in the moment between ready and the watch's
first listing) is read once.

Limits: `history.PRUNED_LIMIT` keys per producer, the newest. A retry that reaches another replica in the moment
between the deletion and that replica's watch event of the status write (milliseconds) is not recognised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from jobwire.jobs.history import PRUNED_LIMIT, pruned_key
from jobwire.kube.api import JSON
from jobwire.kube.errors import NotFound

__all__ = ["PrunedJobs"]

Read = Callable[[str, str, str], Awaitable[JSON]]
"""(plural, namespace, name) -> the producer as the API server has it."""
Key = tuple[str, str, str]


class _Known:
    """One producer's keys, oldest first, as an ordered set."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.keys: dict[str, None] = {}

    def add(self, keys: list[str], limit: int) -> None:
        """Take in a `prunedJobs` list. It only ever grows at its end, so the keys after the newest one known are
        the new ones: an older list (a watch event behind) adds nothing, as long as it is within the bound. The
        cost is O(new keys), not O(list), on every watch event of a busy producer."""
        fresh: list[str] = []
        for key in reversed(keys):
            if key in self.keys:
                break
            fresh.append(key)
        for key in reversed(fresh):
            self.keys[key] = None
        while len(self.keys) > limit:
            del self.keys[next(iter(self.keys))]


class PrunedJobs:
    def __init__(self, read: Read, *, limit: int = PRUNED_LIMIT) -> None:
        self._read = read
        self._limit = limit
        self._known: dict[Key, _Known] = {}
        self._locks: dict[Key, asyncio.Lock] = {}

    def learn(self, plural: str, namespace: str, name: str, uid: str, status: Mapping[str, Any] | None) -> None:
        """What the producer's status says now. `uid` "": an incarnation not known here is left to be read."""
        key = (plural, namespace, name)
        known = self._known.get(key)
        if known is None or (uid and known.uid != uid):
            if not uid:
                return
            known = self._known[key] = _Known(uid)
        keys = (status or {}).get("prunedJobs")
        if isinstance(keys, list) and keys:
            known.add([k for k in keys if isinstance(k, str)], self._limit)

    def learn_object(self, plural: str, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        self.learn(plural, meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""), body.get("status"))

    def forget(self, plural: str, namespace: str, name: str) -> None:
        self._known.pop((plural, namespace, name), None)

    def knows(self, plural: str, namespace: str, name: str, uid: str) -> bool:
        """Whether this incarnation of the producer was learned (then `holds` asks no API)."""
        known = self._known.get((plural, namespace, name))
        return known is not None and (not uid or known.uid == uid)

    async def holds(self, plural: str, namespace: str, name: str, uid: str, job_names: Iterable[str]) -> set[str]:
        """Those of `job_names` whose Jobs were deleted, as the producer's status last told this replica."""
        if not self.knows(plural, namespace, name, uid):
            await self._load(plural, namespace, name, uid)
        known = self._known.get((plural, namespace, name))
        if known is None or (uid and known.uid != uid):
            return set()
        return {job for job in job_names if pruned_key(job) in known.keys}

    async def _load(self, plural: str, namespace: str, name: str, uid: str) -> None:
        """Read the producer once, however many requests wait for it (a burst to a Webhook just loaded)."""
        key = (plural, namespace, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if self.knows(plural, namespace, name, uid):
                    return
                try:
                    body = await self._read(plural, namespace, name)
                except NotFound:
                    if uid:  # gone (its Jobs are being collected): not read again for each of them
                        self._known[key] = _Known(uid)
                    return
                self.learn_object(plural, body)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

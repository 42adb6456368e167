"""Status writes: read, change, write back, with optimistic concurrency — and coalesced under load.

Every status change in Jobwire goes through `StatusWriter.update` with a pure function `status -> status`, so
writers never overwrite each other's fields (the scheduler's lastScheduleTime, the tracker's active Jobs).
Changes to one resource that arrive while a write for it is under way are applied together in the next
read-modify-write: a busy producer costs one PUT per batch, not per change — and with a linger, one batch per
linger at most; with a `spacing`, one write per spacing at most, however long its batches linger (a status PUT of a
busy Webhook costs the API server 5 to 12 ms of CPU, benchmarks/RESULTS.md).

The object a write stored is the starting point of the next write of that resource for `RECENT_SECONDS`: no GET
before each PUT of a busy producer. That is safe because every PUT carries the resourceVersion it started from: if
anyone else wrote the object meanwhile (a person, another replica), the API server refuses it with 409 Conflict,
and the write starts again from a fresh GET. A change that finds nothing to do on the kept object is judged again
on a fresh GET: without a PUT there is no 409 to say that the kept object is out of date.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobwire.kube.api import JSON, Kube, jobwire_path
from jobwire.kube.errors import Conflict, NotFound

__all__ = ["RECENT_LIMIT", "RECENT_SECONDS", "StatusChange", "StatusWriter"]

StatusChange = Callable[[JSON], JSON]
Key = tuple[str, str, str]

RECENT_SECONDS = 10.0
"""How long the object a write stored stands for the current one (the base of the next write, without a GET)."""
RECENT_LIMIT = 1024
"""Most objects kept so (the most recently written): a few MiB at most."""


@dataclass
class _Pending:
    changes: list[tuple[StatusChange, asyncio.Future[JSON | None]]] = field(default_factory=list)
    flushing: bool = False
    scheduled: bool = False
    """A task is on its way to write what is queued (`submit`): a second one is not needed."""
    urgent: asyncio.Event = field(default_factory=asyncio.Event)
    spacing: float = 0.0
    """The longest `spacing` asked for by the changes queued: the next write starts no sooner after the last."""


class StatusWriter:
    def __init__(self, kube: Kube, *, attempts: int = 8, monotonic: Callable[[], float] = time.monotonic) -> None:
        """`monotonic`: the clock of `spacing` and of `RECENT_SECONDS` (a test's own)."""
        self._kube = kube
        self._attempts = attempts
        self._monotonic = monotonic
        self._pending: dict[Key, _Pending] = {}
        self._carrying: set[asyncio.Task[None]] = set()
        self._hurried: set[str] = set()
        self._recent: OrderedDict[Key, tuple[float, JSON]] = OrderedDict()
        """Per resource, when its last write ended and the object it stored."""

    async def read(self, plural: str, namespace: str, name: str) -> JSON:
        return await self._kube.get(jobwire_path(plural, namespace, name))

    async def update(
        self,
        plural: str,
        namespace: str,
        name: str,
        change: StatusChange,
        *,
        linger: float = 0.0,
        spacing: float = 0.0,
    ) -> JSON | None:
        """Apply `change` to the current status; returns the new status, or None if the resource is gone.

        `linger`: when this change starts a write, wait that long first, so that changes arriving meanwhile (a
        busy producer's Jobs) share it. `spacing`: and wait until that long after the end of this resource's last
        write, so that a busy resource is written at most once per `spacing` (a change with no linger, or
        `hurry`, ends either wait)."""
        key = (plural, namespace, name)
        pending, done, linger = self._enqueue(key, change, linger, spacing)
        if not pending.flushing:
            pending.flushing = True
            pending.scheduled = False
            cancelled = False
            try:
                wait = max(linger, self._spaced(key, pending.spacing))
                if wait > 0 and not pending.urgent.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(pending.urgent.wait(), wait)
                batch, pending.changes = pending.changes, []
                pending.urgent.clear()  # an urgent change arriving from now on sets it again
                pending.spacing = 0.0  # what comes from now on asks again
                await self._write(key, batch)
            except asyncio.CancelledError:
                cancelled = True  # (a shutdown): what waits behind it is written at once
                # This caller never reads its own outcome: mark it read (asyncio would log it when collected).
                if not done.done():
                    done.cancel()
                elif not done.cancelled():
                    done.exception()
                raise
            finally:
                pending.flushing = False
                if pending.changes:
                    # What came during the write is the next batch, written by a task of its own after the same
                    # linger (and the spacing those changes asked for): a busy producer gets one write per linger,
                    # and this caller its answer now.
                    self._carry_on(key, 0.0 if cancelled else linger, 0.0 if cancelled else pending.spacing)
                else:
                    self._pending.pop(key, None)
        return await done

    def submit(
        self,
        plural: str,
        namespace: str,
        name: str,
        change: StatusChange,
        *,
        linger: float = 0.0,
        spacing: float = 0.0,
    ) -> asyncio.Future[JSON | None]:
        """`update` without waiting for the write: `change` joins the resource's next batch at once, in the order
        of the calls (an `update` made after it is applied after it), and a task writes it. The future tells the
        outcome; a caller that does not await it should look at its exception.

        For a Kopf handler that only records (the tracker's record of a started Job): awaiting the write would
        hold one of Kopf's workers for the whole linger."""
        key = (plural, namespace, name)
        pending, done, linger = self._enqueue(key, change, linger, spacing)
        if not pending.flushing and not pending.scheduled:
            self._carry_on(key, linger, spacing)
        return done

    def _enqueue(
        self, key: Key, change: StatusChange, linger: float, spacing: float
    ) -> tuple[_Pending, asyncio.Future[JSON | None], float]:
        if key[0] in self._hurried:
            linger = spacing = 0.0
        pending = self._pending.setdefault(key, _Pending())
        pending.spacing = max(pending.spacing, spacing)
        done: asyncio.Future[JSON | None] = asyncio.get_running_loop().create_future()
        pending.changes.append((change, done))
        if linger <= 0 and spacing <= 0:
            pending.urgent.set()  # a change that must not wait ends a lingering write's wait
        return pending, done, linger

    def hurry(self, plural: str) -> None:
        """Writes of this kind linger no more, from now on (a clean stop: nothing waits out its linger)."""
        self._hurried.add(plural)
        for (kind, _, _), pending in self._pending.items():
            if kind == plural:
                pending.urgent.set()

    def _spaced(self, key: Key, spacing: float) -> float:
        """How long until `spacing` has passed since the end of this resource's last write (0: it has)."""
        recent = self._recent.get(key)
        if spacing <= 0 or recent is None:
            return 0.0
        return max(0.0, recent[0] + spacing - self._monotonic())

    def _carry_on(self, key: Key, linger: float, spacing: float) -> None:
        """Changes that came while a write was under way (or whose writer was cancelled: at shutdown, a Sensor's
        poll cancelled in the middle of a status write) are written by a task of their own; without it, those
        behind a cancelled writer waited forever."""

        async def flush() -> None:
            with contextlib.suppress(Exception):  # each waiting caller gets the outcome of its own change
                await self.update(*key, lambda status: status, linger=linger, spacing=spacing)

        self._pending[key].scheduled = True
        task = asyncio.create_task(flush())
        self._carrying.add(task)
        task.add_done_callback(self._carrying.discard)

    async def _write(self, key: Key, batch: list[tuple[StatusChange, asyncio.Future[JSON | None]]]) -> None:
        plural, namespace, name = key
        try:
            result = await self._apply(plural, namespace, name, [change for change, _ in batch])
        except BaseException as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for _, done in batch:
            if not done.done():
                done.set_result(result)

    async def _apply(self, plural: str, namespace: str, name: str, changes: list[StatusChange]) -> JSON | None:
        key = (plural, namespace, name)
        attempt = 0
        while attempt < self._attempts:
            body = self._recently_stored(key)
            remembered = body is not None
            if body is None:
                try:
                    body = await self.read(plural, namespace, name)
                except NotFound:
                    return None
            current: dict[str, Any] = body.get("status") or {}
            updated = copy.deepcopy(current)
            for change in changes:
                updated = change(updated)
            if updated == current:
                if remembered:
                    # Nothing to do to what this writer stored last — but no PUT means no 409 to tell whether
                    # someone wrote since (a follower's forwarded event the change is to take out): judged again
                    # on the object as it is now.
                    self._recent.pop(key, None)
                    continue
                return updated  # a copy: what a caller does with it never reaches the object kept for next time
            try:
                stored = await self._kube.replace(
                    jobwire_path(plural, namespace, name, subresource="status"), {**body, "status": updated}
                )
            except NotFound:
                self._recent.pop(key, None)
                return None
            except Conflict:
                self._recent.pop(key, None)  # written by someone else meanwhile: read it again
                attempt += 1
                await asyncio.sleep(0.01 * attempt)
                continue
            except BaseException:
                self._recent.pop(key, None)  # the write may or may not have landed
                raise
            self._remember(key, stored)
            result: JSON = stored.get("status") or {}
            return result
        raise Conflict(f"status of {plural}/{namespace}/{name} kept changing; gave up after {self._attempts} tries")

    def _recently_stored(self, key: Key) -> JSON | None:
        """The object the last write of `key` stored, if that was less than RECENT_SECONDS ago."""
        recent = self._recent.get(key)
        if recent is None or self._monotonic() - recent[0] > RECENT_SECONDS:
            return None
        return recent[1]

    def _remember(self, key: Key, stored: JSON) -> None:
        self._recent[key] = (self._monotonic(), copy.deepcopy(stored))  # callers get `stored` itself
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)

"""One task wakes every timed entry (schedule ticks, sensor polls): a heap ordered by due time.

No task or thread per resource: thousands of entries cost a heap and a dict. Fired entries run concurrently up
to `max_in_flight`; an entry never runs twice at once. The callback re-arms its entry when it wants to run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Generic, TypeVar

from jobwire.timing.clock import Clock

__all__ = ["Ticker"]

K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)


class Ticker(Generic[K]):
    def __init__(self, clock: Clock, fire: Callable[[K, datetime], Awaitable[None]], *, max_in_flight: int = 64):
        self._clock = clock
        self._fire = fire
        self._heap: list[tuple[datetime, int, K]] = []
        self._due: dict[K, tuple[datetime, int]] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._running: dict[K, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._due)

    def due(self, key: K) -> datetime | None:
        entry = self._due.get(key)
        return entry[0] if entry else None

    def set(self, key: K, due: datetime) -> None:
        """Arm `key` to fire at `due` (replacing any earlier arming)."""
        seq = next(self._seq)
        self._due[key] = (due, seq)
        heapq.heappush(self._heap, (due, seq, key))
        if self._heap[0][1] == seq:
            self._wake.set()

    def remove(self, key: K) -> None:
        """Disarm `key`; a run already under way finishes."""
        self._due.pop(key, None)

    def _pop_due(self, now: datetime) -> list[tuple[K, datetime]]:
        fired: list[tuple[K, datetime]] = []
        while self._heap and self._heap[0][0] <= now:
            due, seq, key = heapq.heappop(self._heap)
            if self._due.get(key) != (due, seq):
                continue  # replaced or removed since it was pushed
            if key in self._running:
                # Still running from last time: try again as soon as it is done.
                self._running[key].add_done_callback(functools.partial(self._rearm_after, key, due))
                del self._due[key]
                continue
            del self._due[key]
            fired.append((key, due))
        return fired

    def _rearm_after(self, key: K, due: datetime, _: object) -> None:
        if key not in self._due:
            self.set(key, due)

    def _next_due(self) -> datetime | None:
        while self._heap and self._due.get(self._heap[0][2]) != (self._heap[0][0], self._heap[0][1]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    async def run(self) -> None:
        """Run until cancelled."""
        try:
            while True:
                self._wake.clear()
                for key, due in self._pop_due(self._clock.now()):
                    self._running[key] = asyncio.create_task(self._run_one(key, due))
                next_due = self._next_due()
                waiters: list[asyncio.Task[object]] = [asyncio.create_task(self._wake.wait())]
                if next_due is not None:
                    waiters.append(asyncio.create_task(self._clock.sleep_until(next_due)))
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            for task in list(self._running.values()):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run_one(self, key: K, due: datetime) -> None:
        try:
            async with self._slots:
                await self._fire(key, due)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("timed run of %s failed", key)
        finally:
            self._running.pop(key, None)

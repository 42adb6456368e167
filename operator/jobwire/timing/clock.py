"""The clock every decision reads. `SystemClock` in production; `FakeClock` next to it for tests.

Code never calls `datetime.now()` or `asyncio.sleep()` for scheduling decisions: it asks a Clock, so tests move
time forward instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SteppedClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep_until(self, deadline: datetime) -> None:
        """Return at or after `deadline` (cancellable)."""
        ...


class SystemClock:
    """Wall-clock time; sleeps on the event loop."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime) -> None:
        while True:
            remaining = (deadline - self.now()).total_seconds()
            if remaining <= 0:
                return
            # Re-check after waking: the loop's monotonic clock and the wall clock can drift apart.
            await asyncio.sleep(min(remaining, 60.0))


class FakeClock:
    """A clock that moves only when told to — a named fake for tests, usable from any thread."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._sleepers: list[tuple[datetime, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    async def sleep_until(self, deadline: datetime) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if deadline <= self._now:
                return
            entry = (deadline, loop, future)
            self._sleepers.append(entry)
        try:
            await future
        finally:
            with self._lock:
                if entry in self._sleepers:
                    self._sleepers.remove(entry)

    def advance(self, delta: timedelta) -> datetime:
        return self.set(self.now() + delta)

    def set(self, instant: datetime) -> datetime:
        with self._lock:
            if instant < self._now:
                raise ValueError("a FakeClock never goes backwards")
            self._now = instant.astimezone(UTC)
            due = [s for s in self._sleepers if s[0] <= self._now]
            self._sleepers = [s for s in self._sleepers if s[0] > self._now]
        for _, loop, future in due:
            loop.call_soon_threadsafe(_resolve, future)
        return instant


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SteppedClock:
    """Real time plus the jumps a test makes — a named fake for tests against a real API server.

    The API server stamps objects with real time (creationTimestamp); a clock that starts at real time and only
    ever jumps forward stays consistent with those stamps, while the test still decides when ticks come.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    async def sleep_until(self, deadline: datetime) -> None:
        loop = asyncio.get_running_loop()
        jumped = asyncio.Event()
        entry = (loop, jumped)
        with self._lock:
            self._waiters.append(entry)
        try:
            while (remaining := (deadline - self.now()).total_seconds()) > 0:
                jumped.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(jumped.wait(), timeout=min(remaining, 60.0))
        finally:
            with self._lock:
                self._waiters.remove(entry)

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a SteppedClock never goes backwards")
        with self._lock:
            self._offset += delta
            waiters = list(self._waiters)
        for loop, jumped in waiters:
            loop.call_soon_threadsafe(jumped.set)
        return self.now()

    def set(self, instant: datetime) -> datetime:
        """Jump to `instant`; an instant real time has already reached leaves the clock as it is."""
        return self.advance(max(timedelta(0), instant - self.now()))

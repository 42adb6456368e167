"""The operator in this test process, on its own thread and event loop, with a clock the test moves.

Used where a test must control time (ticks, catch-up); `OperatorProcess` runs the real `jobwire run` process.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from jobwire.handlers.operator import run_operator
from jobwire.settings import AutomationSettings, HttpSettings, LogSettings, SensorSettings, Settings, WatchSettings
from jobwire.timing.clock import SteppedClock
from tests.support.operator import free_port
from tests.support.wait import eventually

__all__ = ["InProcessOperator", "in_process_operator"]


class InProcessOperator:
    def __init__(self, kubeconfig: Path, namespace: str, clock: SteppedClock) -> None:
        self.clock = clock
        self.probe_port = free_port()
        self.webhook_port = free_port()
        self.settings = Settings(
            watch=WatchSettings(namespaces=(namespace,)),
            http=HttpSettings(host="127.0.0.1", probe_port=self.probe_port, webhook_port=self.webhook_port),
            log=LogSettings(level="DEBUG"),
            # Quiet polls' status writes wait at most a second here, so tests need not wait 15.
            sensors=SensorSettings(quiet_linger_seconds=1.0),
            # Checkpoints and retries at test speed: the tests wait for what status shows, not for the clock.
            automations=AutomationSettings(
                checkpoint_linger_seconds=0.2, notify_backoff_seconds=0.05, retry_seconds=1.0
            ),
        )
        self._kubeconfig = kubeconfig
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start, and wait until ready. A free port can be taken by someone else between picking and binding it:
        then the operator starts again on other ports (a few times at most)."""
        for _ in range(3):
            self._start_once()
            self._thread_done_or_ready()
            if not (isinstance(self.error, OSError) and self.error.errno == errno.EADDRINUSE):
                break
            self.error = None
            self.probe_port, self.webhook_port = free_port(), free_port()
            http = replace(self.settings.http, probe_port=self.probe_port, webhook_port=self.webhook_port)
            self.settings = replace(self.settings, http=http)
        eventually(self._ready, timeout=60, what="the in-process operator to be ready")

    def _thread_done_or_ready(self) -> None:
        eventually(
            lambda: (self._thread is not None and not self._thread.is_alive()) or self._answers(),
            timeout=60,
            what="the in-process operator to start",
        )

    def _start_once(self) -> None:
        os.environ["KUBECONFIG"] = str(self._kubeconfig)
        started = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop = asyncio.Event()
            started.set()
            try:
                loop.run_until_complete(run_operator(self.settings, clock=self.clock, stop=self._stop))
            except BaseException as exc:  # surfaced by stop()
                self.error = exc
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="jobwire-operator", daemon=True)
        self._thread.start()
        started.wait()

    def _ready(self) -> bool:
        if self._thread is not None and not self._thread.is_alive():
            raise AssertionError(f"the operator thread died: {self.error!r}")
        return self._answers()

    def _answers(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.probe_port}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        assert self._loop is not None
        assert self._stop is not None
        assert self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the operator did not stop within 30s"
        if self.error is not None:
            raise AssertionError(f"the operator failed: {self.error!r}") from self.error


@contextmanager
def in_process_operator(
    kubeconfig: Path, namespace: str, clock: SteppedClock | None = None
) -> Iterator[InProcessOperator]:
    operator = InProcessOperator(kubeconfig, namespace, clock or SteppedClock())
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()

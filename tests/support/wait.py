"""Waiting on a condition of the real API server (never a fixed sleep): poll until true or time out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")
POLL_SECONDS = 0.05


def eventually(check: Callable[[], T | None], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Return the first truthy result of `check`, polling; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

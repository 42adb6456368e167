"""A token bucket per Webhook: `burst` requests at once, then `rate_per_second` on average.

Pure arithmetic on the monotonic reading the caller passes; nothing here reads a clock or sleeps.
"""

from __future__ import annotations

import math

__all__ = ["TokenBucket", "retry_after"]

_EPSILON = 1e-9
"""Tokens lost to float rounding (1/3 s at 3 per s) are still a whole token."""


class TokenBucket:
    """Starts full. `take` spends one token or says how long until one is there."""

    def __init__(self, rate_per_second: float, burst: int) -> None:
        if not rate_per_second > 0 or not math.isfinite(rate_per_second):
            raise ValueError("rate_per_second must be a positive number")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def take(self, now_monotonic: float) -> float:
        """0.0 when a token was taken (the request may go on); else the seconds until one will be there."""
        if self._last is not None and now_monotonic > self._last:
            self._tokens = min(self.burst, self._tokens + (now_monotonic - self._last) * self.rate_per_second)
        if self._last is None or now_monotonic > self._last:
            self._last = now_monotonic  # a reading from the past refills nothing and moves nothing back
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(self._tokens - 1, 0.0)
            return 0.0
        return (1 - self._tokens) / self.rate_per_second


def retry_after(wait_seconds: float) -> int:
    """The `Retry-After` value for a wait: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait_seconds))

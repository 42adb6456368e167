"""Which signed requests were seen already: a bounded, expiring set of keys, with the time given by the caller.

Keys are digests (the auth module hashes the Webhook's scope with the signed message), so no raw signature is kept
in memory. Memory is bounded: beyond `max_entries` the oldest entry is evicted, which re-opens its replay window —
a trade of memory for protection that only matters above `max_entries` signed requests per tolerance window.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

__all__ = ["DEFAULT_MAX_ENTRIES", "ReplayGuard"]

DEFAULT_MAX_ENTRIES = 100_000
"""About 15 MB of keys: five minutes of 300 signed requests a second, beyond any one operator's webhook load."""


class ReplayGuard:
    """Answers "was this key seen within its time to live?" and records it, in one step."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._expiry: OrderedDict[str, datetime] = OrderedDict()  # insertion order = oldest first
        self._lock = threading.Lock()  # atomic under threads too; uncontended in the event loop

    def __len__(self) -> int:
        return len(self._expiry)

    def seen_before(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """True when `key` was recorded and has not expired at `now` (its expiry is not extended); otherwise
        record it until `now + ttl` and answer False."""
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        with self._lock:
            expiry = self._expiry.get(key)
            if expiry is not None and now < expiry:
                return True
            self._forget_expired(now)
            self._expiry.pop(key, None)
            self._expiry[key] = now + ttl
            while len(self._expiry) > self._max_entries:
                self._expiry.popitem(last=False)
            return False

    def _forget_expired(self, now: datetime) -> None:
        # Entries' lifetimes differ, so this frees only the expired prefix: enough to keep memory near the live
        # set, amortised O(1); anything expired behind a live entry goes when it becomes the oldest.
        while self._expiry:
            oldest_key, oldest_expiry = next(iter(self._expiry.items()))
            if now < oldest_expiry:
                return
            del self._expiry[oldest_key]

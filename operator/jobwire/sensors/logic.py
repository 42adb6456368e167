"""What a poll's result means, as pure functions: new items, batches, backoff, the poll history.

Dedupe works on digests of item keys kept in status (bounded), so an item that a source returns again — an http
source returns its whole list every time — never makes a second Job, across restarts too. The Job name, derived
from the event id that derives from the key, is the second guard.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "MAX_BACKOFF",
    "RECENT_POLLS_LIMIT",
    "SEEN_LIMIT",
    "Batching",
    "batch_event_id",
    "item_event_id",
    "key_digest",
    "next_delay",
    "plan_batches",
    "record_poll",
    "remember",
    "select_new",
]

SEEN_LIMIT = 5000
"""Digests of item keys remembered per Sensor (the newest). A source returning more new items than this between two
polls of the same items would see the oldest again; cursor-based sources (sql, s3) do not depend on it."""
RECENT_POLLS_LIMIT = 20
MAX_BACKOFF = timedelta(minutes=10)
_SAFE = re.compile(r"[^A-Za-z0-9._:@+=~-]+")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def item_event_id(key: str) -> str:
    """A stable event id for an item: readable when the key is short and plain, a digest otherwise."""
    clean = _SAFE.sub("-", key)[:80]
    return f"item-{clean}-{key_digest(key)[:12]}"


def batch_event_id(keys: Sequence[str]) -> str:
    return "batch-" + hashlib.sha256("\x00".join(keys).encode()).hexdigest()[:24]


def select_new(keys: Sequence[str], seen: Sequence[str]) -> list[int]:
    """Indexes of the items whose key has not been seen, in order, without repeats within the poll."""
    known = set(seen)
    chosen: list[int] = []
    for index, key in enumerate(keys):
        digest = key_digest(key)
        if digest not in known:
            known.add(digest)
            chosen.append(index)
    return chosen


def remember(seen: Sequence[str], keys: Sequence[str], limit: int = SEEN_LIMIT) -> list[str]:
    """The seen list after `keys` were turned into events: newest last, at most `limit`."""
    fresh = [key_digest(k) for k in keys]
    present = set(fresh)
    return [*[d for d in seen if d not in present], *fresh][-limit:]


@dataclass(frozen=True)
class Batching:
    """What to fire now and what keeps waiting."""

    fire: tuple[tuple[Any, ...], ...]
    pending: tuple[Any, ...]
    pending_since: datetime | None


def plan_batches(
    pending: Sequence[Any],
    new: Sequence[Any],
    *,
    now: datetime,
    pending_since: datetime | None,
    max_items: int,
    max_wait: timedelta,
) -> Batching:
    """Fold items into batches of `max_items`; a partial batch waits until it is `max_wait` old."""
    items = [*pending, *new]
    if not items:
        return Batching(fire=(), pending=(), pending_since=None)
    since = pending_since if pending and pending_since is not None else now
    full = len(items) // max_items
    fire = [tuple(items[i * max_items : (i + 1) * max_items]) for i in range(full)]
    rest = items[full * max_items :]
    if rest and (max_wait <= timedelta(0) or now - since >= max_wait):
        fire.append(tuple(rest))
        rest = []
    return Batching(fire=tuple(fire), pending=tuple(rest), pending_since=(since if not fire else now) if rest else None)


def next_delay(interval: timedelta, failures: int) -> timedelta:
    """Time to the next poll: the interval, doubled per consecutive failure, capped at MAX_BACKOFF."""
    if failures <= 0:
        return interval
    return min(
        max(interval, MAX_BACKOFF if interval > MAX_BACKOFF else interval * 2 ** min(failures, 20)),
        max(MAX_BACKOFF, interval),
    )


def record_poll(status: dict[str, Any], poll: dict[str, Any], *, failed: bool) -> dict[str, Any]:
    """The status after a poll: lastPoll, the bounded history, and the failure count."""
    failures = int(status.get("consecutiveFailures") or 0) + 1 if failed else 0
    return {
        **status,
        "lastPoll": poll,
        "recentPolls": [poll, *(status.get("recentPolls") or [])][:RECENT_POLLS_LIMIT],
        "consecutiveFailures": failures,
    }

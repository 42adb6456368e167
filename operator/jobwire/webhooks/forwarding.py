"""Requests a replica that does not lead hands to the leader, through the Webhook's status (`status.forwarded`).

Only what the leader alone can do travels: the event, when an Automation may want it, and the Sensor a Webhook's
`target` asks to poll. The Job itself is made by the replica that took the request (its name makes it once).

    follower: append {id, event?, nudge?} (read-modify-write with the resourceVersion), then answer 2xx
    leader:   sees it in its watch -> hands it to its Automations / Sensor -> removes it

Bounds, so a status never grows without limit while no replica leads: at most MAX_ENTRIES entries and MAX_BYTES of
JSON in one Webhook's list, one entry at most MAX_ENTRY_BYTES. Over a bound the follower answers 503 with
Retry-After; the sender retries (and may reach the leader, which needs no forwarding).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from jobwire.events.model import Event
from jobwire.status.conditions import format_time

__all__ = [
    "MAX_BYTES",
    "MAX_ENTRIES",
    "MAX_ENTRY_BYTES",
    "ForwardRefused",
    "appended",
    "forward_entry",
    "holds",
    "without",
]

JSON = dict[str, Any]
MAX_ENTRIES = 100
MAX_BYTES = 512 * 1024
MAX_ENTRY_BYTES = 128 * 1024


class ForwardRefused(Exception):
    """The event cannot wait for the leader now; `reason` goes into the 503."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def forward_entry(event: Event, *, publish: bool, nudge: str | None, replica: str, now: datetime) -> JSON:
    """The entry for one request; ForwardRefused if it alone is over MAX_ENTRY_BYTES."""
    entry: JSON = {"id": event.id, "replica": replica, "time": format_time(now)}
    if publish:
        entry["event"] = event.to_dict()
    if nudge is not None:
        entry["nudge"] = nudge
    if _size(entry) > MAX_ENTRY_BYTES:
        raise ForwardRefused(
            "EventTooLargeToForward",
            f"this replica does not lead and the event is over {MAX_ENTRY_BYTES} bytes, too large to hand on; retry",
        )
    return entry


def appended(entry: JSON) -> Callable[[JSON], JSON]:
    """A status change adding `entry` unless it is there already or the list is full (then: no change)."""

    def change(status: JSON) -> JSON:
        waiting = list(status.get("forwarded") or [])
        if any(item.get("id") == entry["id"] for item in waiting):
            return status
        if len(waiting) >= MAX_ENTRIES or _size(waiting) + _size(entry) > MAX_BYTES:
            return status
        return {**status, "forwarded": [*waiting, entry]}

    return change


def holds(status: JSON | None, entry_id: str) -> bool:
    """Whether the status written has the entry (False: the list was full)."""
    return any(item.get("id") == entry_id for item in (status or {}).get("forwarded") or [])


def without(ids: Iterable[str]) -> Callable[[JSON], JSON]:
    """A status change taking the entries the leader has handled out of the list."""
    done = set(ids)

    def change(status: JSON) -> JSON:
        waiting = [item for item in status.get("forwarded") or [] if item.get("id") not in done]
        if len(waiting) == len(status.get("forwarded") or []):
            return status
        updated = {**status, "forwarded": waiting}
        if not waiting:
            updated.pop("forwarded")
        return updated

    return change

"""When a trigger fires, as pure state: windows, thresholds, cooldowns, absence deadlines, per forEach key.

Time is the operator's clock at the moment an event arrives, not the event's own `time`: producers' clocks differ,
and an event replayed after a restart must not fall out of a window it belongs to.

Reactive: a key fires when `threshold` matching events have arrived within `within` (any time apart when `within`
is unset); its window then starts empty. Only the newest `threshold` arrivals are kept: they alone decide.

Proactive: a key is armed when it starts (the Automation is loaded, or a forEach value is first seen) and fires
when fewer than `threshold` events arrived within `within` of its deadline — the absence of expected events. It
fires once, then stays quiet until a matching event re-arms it.

Cooldown: the least time between two firings of a key. A reactive key that reaches its threshold in its cooldown
does not fire (a skip, counted); its window keeps counting, so the next event after the cooldown can fire. A
proactive deadline inside a cooldown moves to the cooldown's end.

forEach keys: at most `max_keys`; when a new key would exceed it, the key seen least recently is dropped (with its
window and deadline) and counted as evicted.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from jobwire.api.automation import Posture
from jobwire.events.model import format_rfc3339, parse_rfc3339

__all__ = [
    "CHECKPOINT_BUDGET",
    "EVENTS_KEPT",
    "RECENT_IDS",
    "Fire",
    "KeyState",
    "Observed",
    "Seen",
    "TriggerRule",
    "TriggerState",
    "firing_id",
]

EVENTS_KEPT = 10
"""Triggering events a firing carries whole (to its Job, notification or emitted event); older ones by id only."""
RECENT_IDS = 512
"""Event ids remembered per Automation, so a re-sent event (a producer's retry, a replay after restart) counts once."""
CHECKPOINT_BUDGET = 256 * 1024
"""Bytes of JSON the checkpoint of one Automation may take in its status; keys seen least recently are left out."""


class Observed(StrEnum):
    DUPLICATE = "Duplicate"
    COUNTING = "Counting"
    COOLING_DOWN = "CoolingDown"
    FIRED = "Fired"


@dataclass(frozen=True)
class TriggerRule:
    posture: Posture
    threshold: int
    within: timedelta | None
    cooldown: timedelta | None
    max_keys: int


@dataclass(frozen=True)
class Seen:
    id: str
    at: datetime
    event: Mapping[str, Any] | None = None


@dataclass
class KeyState:
    touched: datetime
    seen: list[Seen] = field(default_factory=list)
    last_fired: datetime | None = None
    armed_at: datetime | None = None


@dataclass(frozen=True)
class Fire:
    """A firing, before its actions: which key, when, and why."""

    key: str
    at: datetime
    events: tuple[Seen, ...]
    deadline: datetime | None = None
    """For an absence: the instant by which the events should have come."""

    @property
    def reason(self) -> str:
        return "Absence" if self.deadline is not None else "Threshold"


def firing_id(automation_uid: str, fire: Fire) -> str:
    """The same firing always gets the same id, so its Job and its record exist once (a restart re-derives it)."""
    what = format_rfc3339(fire.deadline) if fire.deadline is not None else "\x00".join(s.id for s in fire.events)
    digest = hashlib.sha256(f"{automation_uid}\x00{fire.key}\x00{what}".encode()).hexdigest()
    return f"fire-{digest[:20]}"


class TriggerState:
    def __init__(self, rule: TriggerRule) -> None:
        self.rule = rule
        self.keys: OrderedDict[str, KeyState] = OrderedDict()
        self.recent_ids: OrderedDict[str, None] = OrderedDict()
        self.evicted = 0

    # -- events -----------------------------------------------------------------------------------------------------

    def observe(
        self, key: str, event_id: str, event: Mapping[str, Any] | None, now: datetime, *, source: str = ""
    ) -> tuple[Observed, Fire | None]:
        """Count an event. It is the same event as one already counted when both its id and its source are (two
        producers may well use the same id: CloudEvents ids are unique per source only)."""
        identity = f"{source} {event_id}" if source else event_id
        if identity in self.recent_ids:
            return Observed.DUPLICATE, None
        self.recent_ids[identity] = None
        while len(self.recent_ids) > RECENT_IDS:
            self.recent_ids.popitem(last=False)
        state = self._key(key, now)
        state.seen.append(Seen(event_id, now, event))
        self._prune(state, now)
        if self.rule.posture is Posture.PROACTIVE:
            if state.armed_at is None:
                state.armed_at = now
            return Observed.COUNTING, None
        if len(state.seen) < self.rule.threshold:
            return Observed.COUNTING, None
        if self._cooling(state, now):
            return Observed.COOLING_DOWN, None
        fire = Fire(key=key, at=now, events=tuple(state.seen))
        state.seen = []
        state.last_fired = now
        return Observed.FIRED, fire

    def arm(self, key: str, now: datetime) -> None:
        """Start watching `key` for absence (a proactive trigger without forEach watches one key from the start)."""
        if key not in self.keys:
            self._key(key, now).armed_at = now

    # -- deadlines --------------------------------------------------------------------------------------------------

    def deadline_of(self, state: KeyState) -> datetime | None:
        rule = self.rule
        if rule.posture is not Posture.PROACTIVE or state.armed_at is None or rule.within is None:
            return None
        due = state.armed_at + rule.within
        if len(state.seen) >= rule.threshold:
            due = max(due, state.seen[-rule.threshold].at + rule.within)
        if rule.cooldown is not None and state.last_fired is not None:
            due = max(due, state.last_fired + rule.cooldown)
        return due

    def next_deadline(self) -> datetime | None:
        deadlines = [d for s in self.keys.values() if (d := self.deadline_of(s)) is not None]
        return min(deadlines, default=None)

    def expire(self, now: datetime) -> list[Fire]:
        """Fire every key whose absence deadline has passed; each then waits for an event to re-arm it."""
        fired: list[Fire] = []
        for key, state in self.keys.items():
            due = self.deadline_of(state)
            if due is None or due > now:
                continue
            fired.append(Fire(key=key, at=now, events=tuple(state.seen), deadline=due))
            state.armed_at = None
            state.seen = []
            state.last_fired = now
        return fired

    # -- keys -------------------------------------------------------------------------------------------------------

    def _key(self, key: str, now: datetime) -> KeyState:
        state = self.keys.get(key)
        if state is None:
            state = self.keys[key] = KeyState(touched=now)
            while len(self.keys) > self.rule.max_keys:
                self.keys.popitem(last=False)
                self.evicted += 1
        else:
            self.keys.move_to_end(key)
            state.touched = now
        return state

    def _prune(self, state: KeyState, now: datetime) -> None:
        within = self.rule.within
        if within is not None:
            state.seen = [s for s in state.seen if s.at > now - within]
        del state.seen[: -self.rule.threshold]

    def _cooling(self, state: KeyState, now: datetime) -> bool:
        cooldown = self.rule.cooldown
        return cooldown is not None and state.last_fired is not None and now < state.last_fired + cooldown

    # -- checkpoint -------------------------------------------------------------------------------------------------

    def checkpoint(self, budget: int = CHECKPOINT_BUDGET) -> dict[str, Any]:
        """The state as JSON for status, within `budget` bytes: the keys seen most recently first."""
        keys: dict[str, Any] = {}
        used = 0
        for key, state in _newest_first(self.keys):
            entry = _key_json(state)
            size = len(json.dumps(entry, separators=(",", ":"))) + len(key) + 8
            if used + size > budget:
                break
            keys[key] = entry
            used += size
        return {"keys": keys, "recentIds": list(self.recent_ids)[-RECENT_IDS:]}

    @classmethod
    def restore(cls, rule: TriggerRule, checkpoint: Mapping[str, Any] | None) -> TriggerState:
        """The state a checkpoint describes; anything unreadable in it is left out (and the rest kept)."""
        state = cls(rule)
        if not checkpoint:
            return state
        entries = checkpoint.get("keys") or {}
        restored = [(key, _key_from(entry)) for key, entry in entries.items() if isinstance(entry, Mapping)]
        for key, key_state in sorted(((k, s) for k, s in restored if s is not None), key=lambda item: item[1].touched):
            state.keys[key] = key_state
        while len(state.keys) > rule.max_keys:
            state.keys.popitem(last=False)
        for event_id in checkpoint.get("recentIds") or []:
            if isinstance(event_id, str):
                state.recent_ids[event_id] = None
        return state


def _newest_first(keys: OrderedDict[str, KeyState]) -> Iterator[tuple[str, KeyState]]:
    return reversed(keys.items())


def _key_json(state: KeyState) -> dict[str, Any]:
    seen = state.seen
    whole_from = len(seen) - EVENTS_KEPT
    out: dict[str, Any] = {
        "touched": format_rfc3339(state.touched),
        "seen": [
            {
                "id": s.id,
                "at": format_rfc3339(s.at),
                **({"event": dict(s.event)} if s.event and i >= whole_from else {}),
            }
            for i, s in enumerate(seen)
        ],
    }
    if state.last_fired is not None:
        out["lastFired"] = format_rfc3339(state.last_fired)
    if state.armed_at is not None:
        out["armedAt"] = format_rfc3339(state.armed_at)
    return out


def _key_from(entry: Mapping[str, Any]) -> KeyState | None:
    try:
        seen = [
            Seen(str(s["id"]), parse_rfc3339(s["at"]), s.get("event") if isinstance(s.get("event"), Mapping) else None)
            for s in entry.get("seen") or []
        ]
        return KeyState(
            touched=parse_rfc3339(entry["touched"]),
            seen=seen,
            last_fired=parse_rfc3339(entry["lastFired"]) if entry.get("lastFired") else None,
            armed_at=parse_rfc3339(entry["armedAt"]) if entry.get("armedAt") else None,
        )
    except (KeyError, TypeError, ValueError):
        return None

"""What a producer's concurrencyPolicy says about a new event while some of its Jobs still run.

A decision is a value (outcome, CamelCase reason, one-line message), so the caller can act on it and say why in
status and Kubernetes Events without knowing the policy's rules:

| policy  | nothing running | running, below the limit    | at the limit                                 |
|---------|-----------------|-----------------------------|----------------------------------------------|
| Allow   | Create          | Create                      | Skip MaxActive (only when maxActive is set)  |
| Forbid  | Create          | Skip Forbidden              | Skip Forbidden                               |
| Replace | Create          | ReplaceThenCreate           | ReplaceThenCreate                            |
| Queue   | Create          | Create, or Enqueue behind   | Enqueue; Refuse QueueFull when the queue is  |
|         |                 | events already waiting      | full (limit: maxActive, default 1)           |
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jobwire.api.common import ConcurrencyPolicy, QueuedEvent

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "DEFAULT_QUEUE_MAX_ACTIVE",
    "ActiveJob",
    "Decision",
    "Outcome",
    "decide",
    "next_from_queue",
]

DEFAULT_MAX_QUEUED = 100
"""Events waiting under Queue when the spec does not say (the CRD's documented default)."""
DEFAULT_QUEUE_MAX_ACTIVE = 1
"""Jobs running at once under Queue when the spec does not say: a queue exists to run events one after another."""

_NAMED_JOBS = 3
"""Running Jobs named in a message; the rest are counted, so a message stays one short line."""


class Outcome(StrEnum):
    """What to do with the event."""

    CREATE = "Create"
    SKIP = "Skip"
    REPLACE_THEN_CREATE = "ReplaceThenCreate"
    ENQUEUE = "Enqueue"
    REFUSE = "Refuse"


@dataclass(frozen=True)
class ActiveJob:
    """A Job of the producer that has not finished."""

    name: str
    event_id: str | None
    created: datetime | None


@dataclass(frozen=True)
class Decision:
    """The policy's answer; `replace` names the Jobs to delete before creating (ReplaceThenCreate only)."""

    outcome: Outcome
    reason: str
    message: str
    replace: tuple[str, ...] = ()


def decide(
    policy: ConcurrencyPolicy | str,
    active: Sequence[ActiveJob],
    *,
    max_active: int | None,
    queued: int,
    max_queued: int,
) -> Decision:
    """The decision for one new event, given the producer's unfinished Jobs and its queue's length.

    `policy` may be the enum or its value (specs keep enum values as plain strings).
    """
    match ConcurrencyPolicy(policy):
        case ConcurrencyPolicy.ALLOW:
            return _allow(active, max_active)
        case ConcurrencyPolicy.FORBID:
            return _forbid(active)
        case ConcurrencyPolicy.REPLACE:
            return _replace(active)
        case ConcurrencyPolicy.QUEUE:
            return _queue(active, max_active or DEFAULT_QUEUE_MAX_ACTIVE, queued, max_queued)


def next_from_queue(
    queue: Sequence[QueuedEvent], active_count: int, max_active: int | None, made: Collection[str] = ()
) -> list[QueuedEvent]:
    """The queued events to take out of the queue now, oldest first: as many as there are free slots (Queue's
    limit rules), plus every event in `made` (ids of events whose Job exists already, running or finished) wherever
    it waits. Those take no slot: a running one is counted in `active_count` already, a finished one is done — a
    leader that dies between creating the head's Job and taking the head out of the queue leaves one behind, and
    counting it as a new start stalled the queue for good."""
    free = max(0, (max_active or DEFAULT_QUEUE_MAX_ACTIVE) - active_count)
    taken: list[QueuedEvent] = []
    for item in queue:
        if item.id in made:
            taken.append(item)
        elif free > 0:
            taken.append(item)
            free -= 1
    return taken


def _allow(active: Sequence[ActiveJob], max_active: int | None) -> Decision:
    if max_active is not None and len(active) >= max_active:
        return Decision(
            Outcome.SKIP,
            "MaxActive",
            f"{_running(active)}; maxActive is {max_active}",
        )
    return Decision(Outcome.CREATE, "Allowed", "concurrencyPolicy Allow")


def _forbid(active: Sequence[ActiveJob]) -> Decision:
    if active:
        return Decision(Outcome.SKIP, "Forbidden", f"{_jobs(active)} {_is_or_are(active)} still running")
    return Decision(Outcome.CREATE, "NoneActive", "no Job is running")


def _replace(active: Sequence[ActiveJob]) -> Decision:
    if active:
        names = tuple(_unique_names(active))
        return Decision(Outcome.REPLACE_THEN_CREATE, "Replaced", f"replacing {_jobs(active)}", replace=names)
    return Decision(Outcome.CREATE, "NoneActive", "no Job is running")


def _queue(active: Sequence[ActiveJob], limit: int, queued: int, max_queued: int) -> Decision:
    if len(active) < limit and queued == 0:
        return Decision(Outcome.CREATE, "SlotFree", f"{len(active)} of at most {limit} Jobs running")
    ahead = f"{queued} events waiting" if queued != 1 else "1 event waiting"
    why = _running(active) if len(active) >= limit else ahead
    if queued < max_queued:
        return Decision(
            Outcome.ENQUEUE, "Queued", f"{why}; the event waits in the queue ({queued + 1} of {max_queued})"
        )
    return Decision(Outcome.REFUSE, "QueueFull", f"{why}; the queue is full ({max_queued} events, maxQueued)")


def _jobs(active: Sequence[ActiveJob]) -> str:
    """'job a' / 'jobs a, b, c and 2 more'."""
    names = _unique_names(active)
    if len(names) == 1:
        return f"job {names[0]}"
    shown = ", ".join(names[:_NAMED_JOBS])
    rest = len(names) - _NAMED_JOBS
    return f"jobs {shown} and {rest} more" if rest > 0 else f"jobs {shown}"


def _running(active: Sequence[ActiveJob]) -> str:
    if not active:
        return "no Job is running"
    return f"{_jobs(active)} {_is_or_are(active)} running"


def _unique_names(active: Sequence[ActiveJob]) -> list[str]:
    return list(dict.fromkeys(job.name for job in active))


def _is_or_are(active: Sequence[ActiveJob]) -> str:
    return "is" if len(_unique_names(active)) == 1 else "are"

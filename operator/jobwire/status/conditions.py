"""One helper sets conditions, as kstatus, Argo CD and Flux read them.

`lastTransitionTime` moves only when the status flips; `observedGeneration` is always the generation acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["Verdict", "find_condition", "format_time", "set_condition", "with_verdict"]

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: the first failing check becomes the condition's reason and message."""

    ok: bool
    reason: str
    message: str = ""


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, to the second, as Kubernetes writes metav1.Time."""
    if moment.tzinfo is None:
        raise ValueError("a status time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(conditions: list[dict[str, Any]] | None, kind: str) -> dict[str, Any] | None:
    for condition in conditions or []:
        if condition.get("type") == kind:
            return condition
    return None


def set_condition(
    conditions: list[dict[str, Any]] | None,
    *,
    kind: str,
    status: Status,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """A new list with the condition of type `kind` set; others are kept as they are."""
    previous = find_condition(conditions, kind)
    changed = previous is None or previous.get("status") != status
    updated: dict[str, Any] = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": format_time(now) if changed or previous is None else previous["lastTransitionTime"],
    }
    if generation is not None:
        updated["observedGeneration"] = generation
    elif previous is not None and "observedGeneration" in previous:
        updated["observedGeneration"] = previous["observedGeneration"]
    others = [c for c in conditions or [] if c.get("type") != kind]
    return [*others, updated] if previous is None else [updated if c is previous else c for c in conditions or []]


def with_verdict(
    status: dict[str, Any], verdict: Verdict, *, generation: int, now: datetime, kind: str = "Ready"
) -> dict[str, Any]:
    """`status` having acted on `generation`: `observedGeneration` set, and the condition `kind` True or False as
    the verdict says, with its reason and message. Other fields are kept as they are."""
    return {
        **status,
        "observedGeneration": generation,
        "conditions": set_condition(
            status.get("conditions"),
            kind=kind,
            status="True" if verdict.ok else "False",
            reason=verdict.reason,
            message=verdict.message,
            generation=generation,
            now=now,
        ),
    }

"""A firing and the values its actions act with, as pure functions — the operator and the dry run share them.

A firing carries the newest triggering events whole (at most EVENTS_KEPT) and every id. CEL in actions sees
`firing` (id, key, time, reason, eventIds, deadline), `events` (the whole ones, oldest first) and `automation`
(namespace, name). A CEL failure makes that one action fail with the expression's message, never the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobwire.api.automation import Action, AutomationSpec, NotifyAction, NotifyFormat
from jobwire.automations.trigger import EVENTS_KEPT, Fire, firing_id
from jobwire.cel import CelError, evaluate, json_ready
from jobwire.events.model import AUTOMATION_TRIGGERED, Event, ProducerRef, format_rfc3339, parse_rfc3339
from jobwire.jobs.naming import job_name

__all__ = ["Firing", "Planned", "action_name", "action_type", "plan"]


@dataclass(frozen=True)
class Firing:
    id: str
    automation: ProducerRef
    key: str
    at: datetime
    reason: str
    event_ids: tuple[str, ...]
    events: tuple[Mapping[str, Any], ...]
    deadline: datetime | None = None

    @classmethod
    def of(cls, automation: ProducerRef, fire: Fire) -> Firing:
        whole = [s.event for s in fire.events if s.event is not None]
        return cls(
            id=firing_id(automation.uid, fire),
            automation=automation,
            key=fire.key,
            at=fire.at,
            reason=fire.reason,
            event_ids=tuple(s.id for s in fire.events),
            events=tuple(whole[-EVENTS_KEPT:]),
            deadline=fire.deadline,
        )

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "time": format_rfc3339(self.at),
            "reason": self.reason,
            "eventIds": list(self.event_ids),
        }
        if self.deadline is not None:
            out["deadline"] = format_rfc3339(self.deadline)
        return out

    def variables(self) -> dict[str, Any]:
        return {
            "firing": self.summary(),
            "events": [dict(e) for e in self.events],
            "automation": {"namespace": self.automation.namespace, "name": self.automation.name},
        }

    def as_event(self, event_id: str | None = None) -> Event:
        """`jobwire.automation.triggered`: what a runJob's Job gets as its event, and what others can react to."""
        return Event(
            id=event_id or self.id,
            source=self.automation.source,
            type=AUTOMATION_TRIGGERED,
            time=self.at,
            subject=self.key or self.automation.name,
            data={**self.summary(), "events": [dict(e) for e in self.events]},
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "events": [dict(e) for e in self.events]}

    @classmethod
    def from_json(cls, automation: ProducerRef, data: Mapping[str, Any]) -> Firing:
        return cls(
            id=str(data["id"]),
            automation=automation,
            key=str(data.get("key") or ""),
            at=parse_rfc3339(data["time"]),
            reason=str(data.get("reason") or "Threshold"),
            event_ids=tuple(str(i) for i in data.get("eventIds") or []),
            events=tuple(e for e in data.get("events") or [] if isinstance(e, Mapping)),
            deadline=parse_rfc3339(data["deadline"]) if data.get("deadline") else None,
        )


@dataclass(frozen=True)
class Planned:
    """One action of a firing with the values it acts with (or the error that stops it)."""

    index: int
    name: str
    type: str
    values: dict[str, Any]
    error: str | None = None

    def wire(self) -> dict[str, Any]:
        out = {"action": self.name, "type": self.type, **self.values}
        if self.error is not None:
            out["error"] = self.error
        return out


def action_type(action: Action) -> str:
    for field in ("run_job", "notify", "suspend", "resume", "emit"):
        if getattr(action, field) is not None:
            return {"run_job": "runJob"}.get(field, field)
    raise ValueError("an action sets none of runJob, notify, suspend, resume, emit")


def action_name(action: Action, index: int) -> str:
    return action.name or f"{index}-{action_type(action)}"


def plan(spec: AutomationSpec, firing: Firing) -> list[Planned]:
    run_jobs = [i for i, a in enumerate(spec.actions) if a.run_job is not None]
    planned: list[Planned] = []
    for index, action in enumerate(spec.actions):
        kind, name = action_type(action), action_name(action, index)
        try:
            values = _values(action, index, firing, first_run_job=bool(run_jobs) and run_jobs[0] == index)
        except CelError as exc:
            planned.append(Planned(index, name, kind, {}, str(exc)))
            continue
        planned.append(Planned(index, name, kind, values))
    return planned


def _values(action: Action, index: int, firing: Firing, *, first_run_job: bool) -> dict[str, Any]:
    if action.run_job is not None:
        # The first runJob's event is the firing itself; each further one gets its own id, hence its own Job.
        event_id = firing.id if first_run_job else f"{firing.id}-{index}"
        return {"eventId": event_id, "job": job_name(firing.automation, event_id)}
    if action.notify is not None:
        return {
            "urlSecret": f"{action.notify.url_secret_ref.name}/{action.notify.url_secret_ref.key}",
            "format": action.notify.format,
            "body": notify_body(action.notify, firing),
        }
    target = action.suspend or action.resume
    if target is not None:
        return {"kind": target.kind, **({"name": target.name} if target.name else {"selector": target.selector})}
    assert action.emit is not None
    emit = action.emit
    variables = firing.variables()
    subject = evaluate(emit.subject, variables) if emit.subject else None
    data = json_ready(evaluate(emit.data, variables)) if emit.data else firing.summary()
    event = Event(
        id=f"{firing.id}-emit-{index}",
        source=firing.automation.source,
        type=emit.type,
        time=firing.at,
        subject=None if subject is None else str(json_ready(subject)),
        data=data,
    )
    return {"event": event.to_dict()}


def notify_body(action: NotifyAction, firing: Firing) -> dict[str, Any]:
    variables = firing.variables()
    if action.body:
        value = json_ready(evaluate(action.body, variables))
        if not isinstance(value, dict):
            raise CelError(action.body, f"the body must be a map, not {type(value).__name__}")
        return value
    if action.format == NotifyFormat.SLACK:
        return {"text": _slack_text(firing)}
    return variables


def _slack_text(firing: Firing) -> str:
    where = f"{firing.automation.namespace}/{firing.automation.name}"
    if firing.reason == "Absence":
        return f"Jobwire: {where} — no expected event by {format_rfc3339(firing.deadline or firing.at)}"
    types = _distinct(str(e.get("type")) for e in firing.events) or ["events"]
    key = f" [{firing.key}]" if firing.key else ""
    return f"Jobwire: {where}{key} fired on {len(firing.event_ids)} event(s): {', '.join(types)}"


def _distinct(values: Sequence[str] | Any) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)

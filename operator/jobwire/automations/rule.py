"""An Automation's spec, read once into what deciding needs: a matcher, the trigger's numbers, its CEL.

`Rule.admits` says whether an event counts for the trigger (and why not), `Rule.key_of` gives its forEach key.
An Automation never counts an event whose source is itself — its own `triggered`, `emit` and Job events — so it
cannot re-trigger itself (the loop guard); cooldowns bound longer loops through other Automations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from jobwire.api.automation import AutomationSpec, Posture
from jobwire.automations.matching import EventFacts, Matcher
from jobwire.automations.trigger import Fire, Observed, TriggerRule, TriggerState
from jobwire.cel import CelError, check, evaluate, json_ready
from jobwire.events.model import Event, ProducerRef
from jobwire.schedules import parse_duration

__all__ = ["KEY_LIMIT", "Decision", "Rule", "consider"]

KEY_LIMIT = 200
"""Characters of a forEach key kept as they are; a longer key is shortened and ends with a digest of the rest."""


@dataclass(frozen=True)
class Rule:
    ref: ProducerRef
    spec: AutomationSpec
    matcher: Matcher
    trigger: TriggerRule

    @classmethod
    def of(cls, ref: ProducerRef, spec: AutomationSpec) -> Rule:
        """Raises ValueError naming the field when a duration or a CEL expression is not valid."""
        trigger = spec.trigger
        for where, expression in _expressions(spec):
            problem = check(expression)
            if problem is not None:
                raise ValueError(f"spec.{where}: {problem}")
        try:
            within = parse_duration(trigger.within) if trigger.within else None
            cooldown = parse_duration(trigger.cooldown) if trigger.cooldown else None
        except ValueError as exc:
            raise ValueError(f"spec.trigger: {exc}") from None
        return cls(
            ref=ref,
            spec=spec,
            matcher=Matcher.of(
                type=trigger.match.type,
                source=trigger.match.source,
                subject=trigger.match.subject,
                labels=trigger.match.labels,
            ),
            trigger=TriggerRule(
                posture=Posture(trigger.posture),
                threshold=trigger.threshold,
                within=within,
                cooldown=cooldown,
                max_keys=trigger.max_keys,
            ),
        )

    def admits(self, event: Event, labels: Mapping[str, str]) -> tuple[bool, str]:
        """(True, "") when the event counts; else (False, why): NoMatch, OwnEvent, Filtered, or the filter's error."""
        if event.source == self.ref.source:
            return False, "OwnEvent"
        if not self.matcher.matches(EventFacts(event.type, event.source, event.subject, labels)):
            return False, "NoMatch"
        expression = self.spec.trigger.filter
        if expression is None:
            return True, ""
        try:
            verdict = evaluate(expression, {"event": event.to_dict()})
        except CelError as exc:
            return False, f"FilterError: {exc}"
        if not isinstance(verdict, bool):
            return False, f"FilterError: expression `{expression}` gave a {type(verdict).__name__}, not a bool"
        return verdict, "" if verdict else "Filtered"

    def key_of(self, event: Event) -> str:
        """The forEach key ("" without forEach); raises CelError when an expression fails on this event."""
        expressions = self.spec.trigger.for_each
        if not expressions:
            return ""
        variables = {"event": event.to_dict()}
        values = [json_ready(evaluate(e, variables)) for e in expressions]
        text = values[0] if len(values) == 1 and isinstance(values[0], str) else json.dumps(values, sort_keys=True)
        if len(text) <= KEY_LIMIT:
            return text
        return text[: KEY_LIMIT - 17] + "~" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _expressions(spec: AutomationSpec) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if spec.trigger.filter:
        found.append(("trigger.filter", spec.trigger.filter))
    for i, expression in enumerate(spec.trigger.for_each or []):
        found.append((f"trigger.forEach[{i}]", expression))
    for i, action in enumerate(spec.actions):
        if action.notify is not None and action.notify.body:
            found.append((f"actions[{i}].notify.body", action.notify.body))
        if action.emit is not None:
            for field, value in (("subject", action.emit.subject), ("data", action.emit.data)):
                if value:
                    found.append((f"actions[{i}].emit.{field}", value))
    return found


@dataclass(frozen=True)
class Decision:
    """What one event did to a trigger: not counted (and why), counted, or fired."""

    admitted: bool
    reason: str
    """NoMatch, OwnEvent, Filtered, FilterError, ForEachError; or the trigger's Observed outcome."""
    message: str = ""
    key: str = ""
    fire: Fire | None = None


def consider(rule: Rule, state: TriggerState, event: Event, labels: Mapping[str, str], now: datetime) -> Decision:
    """Apply `event` to `state` (which it changes): the one path the operator and the dry run both take."""
    admitted, why = rule.admits(event, labels)
    if not admitted:
        reason, _, message = why.partition(": ")
        return Decision(False, reason, message)
    try:
        key = rule.key_of(event)
    except CelError as exc:
        return Decision(False, "ForEachError", str(exc))
    observed, fire = state.observe(key, event.id, event.to_dict(), now, source=event.source)
    message = f"key {key!r} fired less than cooldown ago" if observed is Observed.COOLING_DOWN else ""
    return Decision(True, observed, message, key, fire)

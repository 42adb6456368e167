"""Automation: rules over events that react, notice absence or count, and then act."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from jobwire.api.base import ApiModel, rule, rules
from jobwire.api.common import (
    Duration,
    JobTemplate,
    Parameter,
    ProducerStatus,
    ResourceName,
    SecretKeyRef,
)

__all__ = [
    "Action",
    "ActionOutcome",
    "AutomationSpec",
    "AutomationStatus",
    "EmitAction",
    "EventMatch",
    "Firing",
    "NotifyAction",
    "NotifyFormat",
    "Posture",
    "RunJobAction",
    "TargetRef",
    "Trigger",
]

Pattern = Annotated[str, Field(min_length=1, max_length=256)]
Cel = Annotated[str, Field(min_length=1, max_length=4096)]


class Posture(StrEnum):
    REACTIVE = "Reactive"
    PROACTIVE = "Proactive"


class EventMatch(ApiModel):
    """Which events count. Each list means any-of; `*` is a wildcard and a leading `!` negates."""

    type: list[Pattern] | None = Field(default=None, max_length=32)
    source: list[Pattern] | None = Field(default=None, max_length=32)
    subject: list[Pattern] | None = Field(default=None, max_length=32)
    labels: dict[str, str] | None = Field(default=None, description="Labels of the resource that emitted the event.")


class Trigger(ApiModel):
    model_config = ConfigDict(
        json_schema_extra=rules(
            rule(
                "self.posture != 'Proactive' || (has(self.within) && duration(self.within) >= duration('10s'))",
                "a Proactive trigger needs within of at least 10s",
                field_path=".within",
            ),
            rule(
                "!has(self.within) || duration(self.within) >= duration('1s')",
                "within must be at least 1s",
                field_path=".within",
            ),
        )
    )

    match: EventMatch
    filter: Cel | None = Field(default=None, description="CEL over `event`.")
    posture: Posture = Posture.REACTIVE
    threshold: int = Field(default=1, ge=1, le=1000)
    within: Duration | None = Field(default=None, description="The sliding window for threshold (and absence).")
    for_each: list[Cel] | None = Field(
        default=None,
        max_length=8,
        description="CEL per event; each distinct value has its own window and cooldown.",
    )
    max_keys: int = Field(
        default=1000, ge=1, le=10000, description="Most forEach keys kept; the least recently seen go first."
    )
    cooldown: Duration | None = Field(default=None, description="Least time between two firings (per key).")


class RunJobAction(ApiModel):
    job_template: JobTemplate
    parameters: list[Parameter] | None = Field(default=None, max_length=64)


class NotifyFormat(StrEnum):
    JSON = "json"
    SLACK = "slack"


class NotifyAction(ApiModel):
    url_secret_ref: SecretKeyRef = Field(description="The URL to POST to, from a Secret (it often holds a token).")
    format: NotifyFormat = NotifyFormat.JSON
    body: Cel | None = Field(default=None, description="CEL over `events` and `firing` giving a map.")
    timeout_seconds: int = Field(default=10, ge=1, le=300)
    retries: int = Field(default=3, ge=0, le=20)


class TargetRef(ApiModel):
    model_config = ConfigDict(
        json_schema_extra=rules(rule("has(self.name) != has(self.selector)", "set exactly one of name and selector"))
    )

    kind: str = Field(pattern=r"^(Schedule|Sensor|Webhook|Automation)$")
    name: ResourceName | None = None
    selector: dict[str, str] | None = Field(default=None, description="matchLabels of the resources.")


class EmitAction(ApiModel):
    type: str = Field(max_length=256)
    subject: Cel | None = None
    data: Cel | None = Field(default=None, description="CEL over `events` and `firing`.")


class Action(ApiModel):
    model_config = ConfigDict(
        json_schema_extra=rules(
            rule(
                "[has(self.runJob), has(self.notify), has(self.suspend), has(self.resume), has(self.emit)]"
                ".filter(x, x).size() == 1",
                "each action sets exactly one of runJob, notify, suspend, resume, emit",
            )
        )
    )

    name: str | None = Field(default=None, max_length=63)
    run_job: RunJobAction | None = None
    notify: NotifyAction | None = None
    suspend: TargetRef | None = None
    resume: TargetRef | None = None
    emit: EmitAction | None = None


class AutomationSpec(ApiModel):
    trigger: Trigger
    actions: list[Action] = Field(min_length=1, max_length=16)
    suspend: bool = False
    service_account_name: ResourceName | None = None
    successful_jobs_history_limit: int = Field(default=3, ge=0, le=1000)
    failed_jobs_history_limit: int = Field(default=1, ge=0, le=1000)


class ActionOutcome(ApiModel):
    action: str
    result: str = Field(description="Succeeded, Failed or Skipped.")
    message: str | None = None
    time: datetime | None = None


class Firing(ApiModel):
    id: str
    time: datetime
    reason: str | None = Field(default=None, description="Threshold (events arrived) or Absence (they did not).")
    key: str | None = None
    event_ids: list[str] | None = None
    outcomes: list[ActionOutcome] | None = None


class AutomationStatus(ProducerStatus):
    """The runs of its runJob actions (as every producer's), and its firings."""

    last_triggered_time: datetime | None = None
    trigger_count: int | None = None
    last_outcomes: list[ActionOutcome] | None = None
    recent_firings: list[Firing] | None = None
    checkpoint: dict[str, Any] | None = Field(
        default=None, description="Windows, cooldowns and deadlines, so a restart resumes them."
    )

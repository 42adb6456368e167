"""The four kinds as the API server knows them: names, schemas, printer columns."""

from __future__ import annotations

from dataclasses import dataclass

from jobwire.api.automation import AutomationSpec, AutomationStatus
from jobwire.api.base import ApiModel
from jobwire.api.schedule import ScheduleSpec, ScheduleStatus
from jobwire.api.sensor import SensorSpec, SensorStatus
from jobwire.api.webhook import WebhookSpec, WebhookStatus

__all__ = [
    "AUTOMATION",
    "CATEGORY",
    "GROUP",
    "KINDS",
    "SCHEDULE",
    "SENSOR",
    "VERSION",
    "WEBHOOK",
    "Column",
    "Kind",
]

GROUP = "jobwire.io"
VERSION = "v1alpha1"
CATEGORY = "jobwire"


@dataclass(frozen=True)
class Column:
    """A printer column of `kubectl get`."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str | None = None


READY = Column("Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition")
AGE = Column("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class Kind:
    """One custom resource kind of Jobwire."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[ApiModel]
    status: type[ApiModel]
    columns: tuple[Column, ...]

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{GROUP}/{VERSION}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


SCHEDULE = Kind(
    kind="Schedule",
    plural="schedules",
    short_names=("jws",),
    spec=ScheduleSpec,
    status=ScheduleStatus,
    columns=(
        Column("Cron", ".spec.cron", description="Cron expression"),
        Column("Interval", ".spec.interval", description="Interval", priority=1),
        Column("TZ", ".spec.timeZone", description="Time zone"),
        Column("Suspended", ".spec.suspend", "boolean"),
        Column("Last", ".status.lastScheduleTime", "date", "Last scheduled tick"),
        # A string, not a date: kubectl shows a future date as "<invalid>".
        Column("Next", ".status.nextScheduleTimes[0]", "string", "Next tick (UTC)"),
        Column("Active", ".status.activeCount", "integer", "Running Jobs"),
        READY,
        AGE,
    ),
)

SENSOR = Kind(
    kind="Sensor",
    plural="sensors",
    short_names=("jwsn",),
    spec=SensorSpec,
    status=SensorStatus,
    columns=(
        Column("Interval", ".spec.interval"),
        Column("Last-Poll", ".status.lastPoll.time", "date"),
        Column("Outcome", ".status.lastPoll.outcome"),
        Column("Failures", ".status.consecutiveFailures", "integer", priority=1),
        Column("Active", ".status.activeCount", "integer", "Running Jobs"),
        READY,
        AGE,
    ),
)

WEBHOOK = Kind(
    kind="Webhook",
    plural="webhooks",
    short_names=("jwh",),
    spec=WebhookSpec,
    status=WebhookStatus,
    columns=(
        Column("Auth", ".spec.auth.type"),
        Column("URL", ".status.url", priority=1),
        Column("Accepted", ".status.counters.accepted", "integer"),
        Column("Last", ".status.lastEventTime", "date"),
        Column("Active", ".status.activeCount", "integer", "Running Jobs"),
        READY,
        AGE,
    ),
)

AUTOMATION = Kind(
    kind="Automation",
    plural="automations",
    short_names=("jwa",),
    spec=AutomationSpec,
    status=AutomationStatus,
    columns=(
        Column("Posture", ".spec.trigger.posture"),
        Column("Firings", ".status.triggerCount", "integer"),
        Column("Last", ".status.lastTriggeredTime", "date"),
        Column("Suspended", ".spec.suspend", "boolean"),
        READY,
        AGE,
    ),
)

KINDS: tuple[Kind, ...] = (SCHEDULE, SENSOR, WEBHOOK, AUTOMATION)

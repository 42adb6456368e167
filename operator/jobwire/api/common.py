"""Types that every kind shares: job template, parameters, concurrency, history limits, status pieces."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue

from jobwire.api.base import ApiModel, rule, rules

__all__ = [
    "CONDITION_LIST",
    "DURATION_PATTERN",
    "ENV_NAME_PATTERN",
    "PRODUCER_RULES",
    "ConcurrencyPolicy",
    "Condition",
    "Duration",
    "JobRef",
    "JobSpecShape",
    "JobTemplate",
    "JobTemplateMetadata",
    "LastRun",
    "Parameter",
    "ProducerSpec",
    "ProducerStatus",
    "QueuedEvent",
    "RecentRun",
    "ResourceName",
    "RunResult",
    "RunTotals",
    "SecretKeyRef",
    "SkipRecord",
    "StartsCounted",
]

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Go-style durations as Kubernetes CEL's duration() reads them: 90s, 15m, 1h30m, 500ms.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)]
ResourceName = Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, min_length=1, max_length=253)]


class ConcurrencyPolicy(StrEnum):
    """What happens when an event arrives while Jobs of the same producer are still running."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"
    QUEUE = "Queue"


class RunResult(StrEnum):
    """How a run ended, as recorded in status."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class SecretKeyRef(ApiModel):
    """A key of a Secret in the resource's own namespace (never another namespace)."""

    name: ResourceName = Field(description="Name of the Secret, in the same namespace as the resource.")
    key: str = Field(description="Key inside the Secret.", min_length=1, max_length=253)


class JobTemplateMetadata(ApiModel):
    """Labels and annotations copied onto each Job."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class JobSpecShape(ApiModel):
    """A batch/v1 JobSpec. Only `template` is required here; every other field is kept as written and checked by
    the API server when the Job is created (a server-side dry run reports problems as `Ready=False` early)."""

    model_config = ConfigDict(extra="allow")

    template: dict[str, Any] = Field(description="The Pod template of the Job.")


class JobTemplate(ApiModel):
    """A batch/v1 JobTemplateSpec: labels and annotations for the Job, and its spec."""

    metadata: JobTemplateMetadata | None = None
    spec: JobSpecShape


class Parameter(ApiModel):
    """A value taken from the event by a CEL expression and given to containers as an env var.

    Values are never templated into YAML: the result of `expression` becomes the env var's value
    (strings as they are, anything else as JSON), so an event cannot inject fields into the Job.
    """

    name: str = Field(description="Name of the environment variable.", pattern=ENV_NAME_PATTERN, max_length=128)
    expression: str = Field(
        description="CEL over `event` (id, type, source, subject, time, data).",
        min_length=1,
        max_length=4096,
    )
    containers: list[Annotated[str, Field(max_length=63)]] | None = Field(
        default=None,
        description="Containers that get the variable; all containers (not init containers) when empty.",
        max_length=32,
    )
    default: str | None = Field(
        default=None,
        description="Value used when the expression fails (e.g. a missing field); without it the run is refused.",
        max_length=4096,
    )


# Cross-field rules of ProducerSpec; each kind's spec adds them to its own (a model's rules replace its base's).
PRODUCER_RULES = (
    rule(
        "!has(self.maxActive) || self.concurrencyPolicy in ['Queue', 'Allow']",
        "maxActive applies only to concurrencyPolicy Queue or Allow: Forbid and Replace keep one Job",
        field_path=".maxActive",
    ),
    rule(
        "!has(self.maxQueued) || self.concurrencyPolicy == 'Queue'",
        "maxQueued applies only to concurrencyPolicy Queue",
        field_path=".maxQueued",
    ),
)


class ProducerSpec(ApiModel):
    """The fields of every kind that turns its events into Jobs through the shared pipeline."""

    model_config = ConfigDict(json_schema_extra=rules(*PRODUCER_RULES))

    job_template: JobTemplate | None = Field(default=None, description="The Job to create for each event.")
    parameters: list[Parameter] | None = Field(
        default=None,
        description="Values from the event, as env vars of the Job's containers.",
        max_length=64,
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        default=ConcurrencyPolicy.ALLOW,
        description="Allow, Forbid (skip while one runs), Replace (delete the running one), "
        "Queue (events wait in order until fewer than maxActive run).",
    )
    max_active: int | None = Field(
        default=None,
        description="Most Jobs running at once under Queue or Allow (default: 1 for Queue, unbounded for Allow).",
        ge=1,
        le=1000,
    )
    max_queued: int | None = Field(
        default=None,
        description="Most events waiting under Queue (default 100); more sets QueueOverflow and refuses them.",
        ge=1,
        le=1000,
    )
    successful_jobs_history_limit: int = Field(
        default=3, description="Finished successful Jobs to keep.", ge=0, le=1000
    )
    failed_jobs_history_limit: int = Field(default=1, description="Finished failed Jobs to keep.", ge=0, le=1000)
    suspend: bool = Field(default=False, description="While true, no new Jobs are created.")
    service_account_name: ResourceName | None = Field(
        default=None,
        description="ServiceAccount in the resource's namespace whose permissions Jobs are created with "
        "(default: `jobwire-runner`). The Pods' own ServiceAccount is the one in jobTemplate.",
    )


# Conditions are a map keyed by type, so server-side apply and strategic merges treat them as one each.
CONDITION_LIST: dict[str, JsonValue] = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A standard Kubernetes condition (metav1.Condition), read by kstatus, Argo CD and Flux."""

    type: str = Field(max_length=316)
    status: ConditionStatus
    reason: str = Field(max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


class JobRef(ApiModel):
    """A Job that a producer created."""

    name: str
    uid: str | None = None
    event_id: str | None = None


class LastRun(ApiModel):
    """The newest run of a producer."""

    job: str
    event_id: str
    scheduled_time: datetime | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    result: RunResult


class RecentRun(ApiModel):
    """One line of the bounded run history."""

    job: str
    event_id: str
    result: RunResult
    start_time: datetime | None = None
    duration_seconds: float | None = None


class RunTotals(ApiModel):
    """Counters over the producer's life."""

    created: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0


class StartsCounted(ApiModel):
    """Which running Jobs a restart or a takeover finds counted already, when more run than `active` lists."""

    newest: datetime | None = Field(
        default=None, description="The newest creation time of a Job counted in `totals.created`."
    )
    term: str | None = Field(
        default=None, description="The leadership term (of one operator process) that copied `newest` to `before`."
    )
    before: datetime | None = Field(
        default=None,
        description="`newest` as the terms before this one left it: a running Job that is not in `active` and was "
        "created at or before this time, while `activeCount` tells of Jobs beyond `active`, is one of those, "
        "counted already.",
    )


class SkipRecord(ApiModel):
    """The newest event (or tick) that made no Job, and why."""

    time: datetime
    event_id: str | None = None
    reason: str
    message: str | None = None


class QueuedEvent(ApiModel):
    """An event waiting for a free slot under concurrencyPolicy Queue; kept in status so a restart keeps it."""

    id: str
    type: str
    source: str
    subject: str | None = None
    time: datetime | None = None
    scheduled_time: datetime | None = None
    data: Any = None


class ProducerStatus(ApiModel):
    """What every producer's status says: conditions, active Jobs, last run, history, queue."""

    observed_generation: int | None = None
    conditions: list[Condition] | None = Field(default=None, json_schema_extra=CONDITION_LIST)
    active: list[JobRef] | None = None
    active_count: int | None = None
    last_run: LastRun | None = None
    recent_runs: list[RecentRun] | None = None
    totals: RunTotals | None = None
    queue: list[QueuedEvent] | None = None
    last_skip: SkipRecord | None = None
    counted_before: datetime | None = Field(
        default=None,
        description="Every finished Job that ended before this time is in `totals` already (with `recentRuns`, "
        "what keeps a restart, which sees every finished Job again, from counting one twice).",
    )
    starts_counted: StartsCounted | None = None
    pruned_jobs: list[str] | None = Field(
        default=None,
        description="The newest Jobs the history limits deleted (at most 1,000; by anyone, once finished), by the "
        "hash that ends each name, oldest first: an event whose Job is named here is a duplicate and runs no "
        "second Job.",
    )
    run_requested_at: str | None = Field(
        default=None, description="The last `jobwire.io/run-requested-at` value acted on."
    )

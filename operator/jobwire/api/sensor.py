"""Sensor: poll an external system and run Jobs only for what is new since the last poll."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from jobwire.api.base import ApiModel, rule, rules
from jobwire.api.common import (
    PRODUCER_RULES,
    Duration,
    JobTemplate,
    ProducerSpec,
    ProducerStatus,
    SecretKeyRef,
)

__all__ = [
    "Batch",
    "HttpSource",
    "KubernetesSource",
    "PollOutcome",
    "PollRecord",
    "PrometheusSource",
    "S3Source",
    "SensorSource",
    "SensorSpec",
    "SensorStatus",
    "SqlSource",
]

Cel = Annotated[str, Field(min_length=1, max_length=4096)]


class HeaderValue(ApiModel):
    """An HTTP header whose value is given inline or read from a Secret."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            rule("has(self.value) != has(self.secretRef)", "set exactly one of value and secretRef")
        )
    )

    name: str = Field(max_length=256, pattern=r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
    value: str | None = Field(default=None, max_length=8192)
    secret_ref: SecretKeyRef | None = None


class HttpSource(ApiModel):
    """Poll a URL. Either `items` + `key` (one event per new item) or `condition` (fires on false → true)."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            rule("has(self.items) != has(self.condition)", "set exactly one of items and condition"),
            rule("has(self.items) == has(self.key)", "items and key go together", field_path=".key"),
        )
    )

    url: str = Field(max_length=2048, pattern=r"^https?://")
    method: str = Field(default="GET", pattern=r"^(GET|POST|HEAD)$")
    headers: list[HeaderValue] | None = Field(default=None, max_length=32)
    body: str | None = Field(default=None, max_length=65536)
    expected_status: list[int] | None = Field(default=None, description="Default: any 2xx.", max_length=16)
    items: Cel | None = Field(default=None, description="CEL over `response` (the parsed JSON) giving a list.")
    key: Cel | None = Field(default=None, description="CEL over `item` giving its dedupe key.")
    condition: Cel | None = Field(default=None, description="CEL over `response` giving a bool.")


class S3Source(ApiModel):
    """New objects in an S3-compatible bucket since the cursor (the newest key and modification time seen)."""

    endpoint: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default="", max_length=1024)
    suffix: str = Field(default="", max_length=1024)
    region: str = Field(default="us-east-1", max_length=64)
    access_key_id: SecretKeyRef | None = None
    secret_access_key: SecretKeyRef | None = None
    force_path_style: bool = Field(
        default=True, description="Path-style addressing, as most S3-compatible servers want."
    )


class SqlSource(ApiModel):
    """Rows from PostgreSQL: `query` gets the cursor as $1 and returns rows with a key column."""

    dsn: SecretKeyRef = Field(description="A libpq connection string or URI, from a Secret.")
    query: str = Field(min_length=1, max_length=65536)
    key_column: str = Field(default="id", max_length=63)
    cursor_column: str = Field(
        default="id", max_length=63, description="The column whose largest value is the next cursor."
    )
    initial_cursor: str | None = Field(default=None, max_length=1024)


class KubernetesSource(ApiModel):
    """Objects of any kind; each object for which `condition` holds is an item (key: uid + resourceVersion)."""

    api_version: str = Field(max_length=253)
    kind: str = Field(max_length=63)
    namespace: str | None = Field(default=None, max_length=63, description="Default: the Sensor's namespace.")
    label_selector: str | None = Field(default=None, max_length=1024)
    condition: Cel | None = Field(default=None, description="CEL over `object`; default: every object.")
    key: Cel | None = Field(default=None, description="CEL over `object` giving the dedupe key.")


class PrometheusSource(ApiModel):
    """A PromQL instant query; `condition` (CEL over `result`) fires on its false → true edge."""

    url: str = Field(max_length=2048, pattern=r"^https?://")
    query: str = Field(min_length=1, max_length=16384)
    condition: Cel


class SensorSource(ApiModel):
    """Exactly one source."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            rule(
                "[has(self.http), has(self.s3), has(self.sql), has(self.kubernetes), has(self.prometheus)]"
                ".filter(x, x).size() == 1",
                "set exactly one of http, s3, sql, kubernetes, prometheus",
            )
        )
    )

    http: HttpSource | None = None
    s3: S3Source | None = None
    sql: SqlSource | None = None
    kubernetes: KubernetesSource | None = None
    prometheus: PrometheusSource | None = None


class Batch(ApiModel):
    """Fold many items into one event (data is the list) and one Job."""

    max_items: int = Field(default=100, ge=1, le=10000)
    max_wait_seconds: int = Field(default=0, ge=0, le=86400, description="Wait this long for more items.")


class SensorSpec(ProducerSpec):
    """What to poll, how often, and the Job to run for each new item (or batch)."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            *PRODUCER_RULES,
            rule(
                "duration(self.interval) >= duration('1s')",
                "interval must be at least 1s",
                field_path=".interval",
            ),
        )
    )

    job_template: JobTemplate = Field(description="The Job to create for each new item (or batch).")
    source: SensorSource
    interval: Duration = Field(default="30s", description="Time between polls (at least 1s).")
    timeout_seconds: int = Field(default=10, ge=1, le=3600)
    batch: Batch | None = None


class PollOutcome(StrEnum):
    FIRED = "Fired"
    SKIPPED = "Skipped"
    FAILED = "Failed"


class PollRecord(ApiModel):
    """One poll: when, how long, how many new items, and what came of it."""

    time: datetime
    duration_seconds: float
    items: int = 0
    outcome: PollOutcome
    reason: str | None = Field(default=None, max_length=1024)


class SensorStatus(ProducerStatus):
    cursor: str | None = None
    seen_keys: list[str] | None = Field(
        default=None, description="Digests of the newest item keys already turned into events (bounded)."
    )
    pending_items: list[Any] | None = Field(
        default=None, description="Items waiting for their batch to fill (batch.maxItems) or age (maxWaitSeconds)."
    )
    pending_since: datetime | None = None
    outbox: list[Any] | None = Field(
        default=None,
        description="Events written ahead of their Jobs (CloudEvents JSON); re-sent after a crash, then cleared.",
    )
    next_poll_time: datetime | None = Field(default=None, description="When the next poll is due (backoff included).")
    reset_cursor_at: str | None = Field(default=None, description="The last jobwire.io/reset-cursor value acted on.")
    last_poll: PollRecord | None = None
    recent_polls: list[PollRecord] | None = None
    consecutive_failures: int | None = None
    condition_state: bool | None = Field(default=None, description="Last value of an edge-triggered condition.")

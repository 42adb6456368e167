"""The event every producer emits: CloudEvents 1.0 attributes, with ids that stay the same when an event is retried.

A Job's name is derived from (producer, event id), so an id must be *stable*: the same tick, item or delivery always
gets the same id, and creating its Job twice yields AlreadyExists instead of a second run. The helpers at the bottom
compute those ids for the producers whose ids are not given to them (schedule ticks, manual runs).

`to_dict` / `from_dict` are the CloudEvents structured JSON form (the form that goes into the Job as
`JOBWIRE_EVENT`, into notifications and into the queue in status); binary `data` travels as `data_base64`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "API_VERSION",
    "AUTOMATION_ACTION_FAILED",
    "AUTOMATION_TRIGGERED",
    "JOB_FAILED",
    "JOB_STARTED",
    "JOB_SUCCEEDED",
    "SENSOR_ITEM",
    "SPEC_VERSION",
    "TICK",
    "WEBHOOK_RECEIVED",
    "Event",
    "ProducerRef",
    "format_rfc3339",
    "manual_run_id",
    "parse_rfc3339",
    "schedule_tick_id",
]

TICK = "jobwire.schedule.tick"
SENSOR_ITEM = "jobwire.sensor.item"
WEBHOOK_RECEIVED = "jobwire.webhook.received"
JOB_STARTED = "jobwire.job.started"
JOB_SUCCEEDED = "jobwire.job.succeeded"
JOB_FAILED = "jobwire.job.failed"
AUTOMATION_TRIGGERED = "jobwire.automation.triggered"
AUTOMATION_ACTION_FAILED = "jobwire.automation.action.failed"

SPEC_VERSION = "1.0"
API_VERSION = "jobwire.io/v1alpha1"

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)
_REQUIRED_STRINGS = ("id", "source", "type")


def format_rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z; microseconds only when there are some, so whole-second instants read as Kubernetes
    writes them and nothing finer is lost."""
    if moment.tzinfo is None:
        raise ValueError("an event time must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") + _fraction(utc) + "Z"


def _fraction(moment: datetime) -> str:
    return f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""


def parse_rfc3339(text: str) -> datetime:
    """An aware datetime from RFC 3339 text (Z or an offset; digits beyond microseconds are dropped).

    Stricter than `datetime.fromisoformat`, which also reads ISO 8601 forms that no other tool writes
    (week dates, no offset) and would silently give a naive datetime.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] in ("Z", "z") else match["zone"]
    return datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{zone}")


@dataclass(frozen=True)
class Event:
    """One CloudEvents 1.0 event. `time` is aware; `data` is any JSON value (or bytes, sent as `data_base64`)."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    data: Any = None
    datacontenttype: str = "application/json"

    def __post_init__(self) -> None:
        for attribute in _REQUIRED_STRINGS:
            value = getattr(self, attribute)
            if not isinstance(value, str) or not value:
                raise ValueError(f"event attribute {attribute} must be a non-empty string")
        if not isinstance(self.time, datetime) or self.time.tzinfo is None:
            raise ValueError("event attribute time must be a timezone-aware datetime")

    def to_dict(self) -> dict[str, Any]:
        """The structured JSON form; optional attributes appear only when set."""
        out: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": format_rfc3339(self.time),
            "datacontenttype": self.datacontenttype,
        }
        if self.subject is not None:
            out["subject"] = self.subject
        if isinstance(self.data, bytes | bytearray):
            out["data_base64"] = base64.b64encode(self.data).decode("ascii")
        elif self.data is not None:
            out["data"] = self.data
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        """The inverse of `to_dict`. Unknown (extension) attributes are ignored; a missing or invalid required
        attribute raises ValueError naming it."""
        if not isinstance(d, Mapping):
            raise ValueError("an event must be a JSON object")
        if d.get("specversion") != SPEC_VERSION:
            raise ValueError(f"event attribute specversion must be {SPEC_VERSION!r}")
        for attribute in (*_REQUIRED_STRINGS, "time"):
            if attribute not in d:
                raise ValueError(f"event attribute {attribute} is missing")
            if not isinstance(d[attribute], str) or not d[attribute]:
                raise ValueError(f"event attribute {attribute} must be a non-empty string")
        try:
            time = parse_rfc3339(d["time"])
        except ValueError:
            raise ValueError("event attribute time is not an RFC 3339 time") from None
        subject = _optional_string(d, "subject")
        datacontenttype = _optional_string(d, "datacontenttype") or "application/json"
        return cls(
            id=d["id"],
            source=d["source"],
            type=d["type"],
            time=time,
            subject=subject,
            data=_data_of(d),
            datacontenttype=datacontenttype,
        )

    def to_json(self) -> str:
        """Compact JSON with sorted keys: the same event always gives the same bytes."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _optional_string(d: Mapping[str, Any], attribute: str) -> str | None:
    value = d.get(attribute)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"event attribute {attribute} must be a string")
    return value


def _data_of(d: Mapping[str, Any]) -> Any:
    if "data_base64" not in d:
        return d.get("data")
    if "data" in d:
        raise ValueError("event has both data and data_base64")
    encoded = d["data_base64"]
    if not isinstance(encoded, str):
        raise ValueError("event attribute data_base64 must be a string")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("event attribute data_base64 is not valid base64") from None


@dataclass(frozen=True)
class ProducerRef:
    """The resource an event came from (and that owns the Jobs it causes)."""

    kind: str
    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    """Labels of the resource (a Job's own, for Job lifecycle events): Automations match on them."""

    @property
    def api_version(self) -> str:
        return API_VERSION

    @property
    def source(self) -> str:
        """The CloudEvents `source`: the resource's API path, unique in the cluster and readable by kubectl."""
        return f"/apis/{API_VERSION}/namespaces/{self.namespace}/{self.kind.lower()}s/{self.name}"


def schedule_tick_id(scheduled: datetime) -> str:
    """The id of the tick due at `scheduled`: the same instant always gives the same id (sub-second instants
    keep their fraction, so two ticks never share one)."""
    if scheduled.tzinfo is None:
        raise ValueError("a scheduled time must be timezone-aware")
    utc = scheduled.astimezone(UTC)
    day = f"{utc.year:04d}{utc.month:02d}{utc.day:02d}"
    return f"tick-{day}T{utc.hour:02d}{utc.minute:02d}{utc.second:02d}{_fraction(utc)}Z"


def manual_run_id(requested_at_value: str) -> str:
    """The id of the run asked for by a `jobwire.io/run-requested-at` value: a new value is a new run, the same
    value (seen again after a restart) is the same run."""
    return "run-" + hashlib.sha256(requested_at_value.encode("utf-8")).hexdigest()[:16]

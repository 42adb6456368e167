"""The Job manifest for one event: the producer's jobTemplate, plus who made it, why, and what the event said.

What the Job gets, and the rules that keep it safe:

- its name from `job_name(producer, event.id)`, so creating it twice is harmless (AlreadyExists);
- labels `jobwire.io/kind` / `jobwire.io/name` (on the Job and its Pods), annotations naming the event, and a
  controller ownerReference to the producer, so deleting the producer deletes its Jobs;
- in every regular container (init containers are the user's own business), env `JOBWIRE_EVENT_ID`, `_TYPE`,
  `_SOURCE`, and the event itself: inline as `JOBWIRE_EVENT` up to `EVENT_ENV_LIMIT` bytes, else as a file
  `JOBWIRE_EVENT_FILE` from a ConfigMap created right after the Job (and owned by it), up to
  `EVENT_CONFIGMAP_LIMIT` bytes (a ConfigMap holds at most 1 MiB, metadata included);
- parameters: CEL over the event, each result in an env var's `value`.

Event content only ever lands in `value` fields, never in the manifest's structure, so an event cannot add fields
to a Job. Our variables replace same-named ones of the template, so a template cannot fake an event either. Every
value we set has its `$` doubled: the kubelet expands `$(VAR)` in env values, and an event saying `$(DB_PASSWORD)`
must reach the container as those characters, not as the password; `$$` is the kubelet's escape for one `$`. Our
variables come first in the list, so the template's own env can refer to them (`/out/$(JOBWIRE_EVENT_ID)`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from jobwire.api.common import JobTemplate, Parameter
from jobwire.cel import CelError, evaluate, json_ready
from jobwire.events.model import API_VERSION, Event, ProducerRef, format_rfc3339
from jobwire.jobs.naming import job_name

__all__ = [
    "EVENT_ANNOTATION_ID",
    "EVENT_ANNOTATION_SOURCE",
    "EVENT_ANNOTATION_TYPE",
    "EVENT_CONFIGMAP_KEY",
    "EVENT_CONFIGMAP_LIMIT",
    "EVENT_ENV_LIMIT",
    "EVENT_MOUNT_PATH",
    "EVENT_VOLUME",
    "KIND_LABEL",
    "NAME_LABEL",
    "RESERVED_ENV_PREFIX",
    "SCHEDULED_TIME_ANNOTATION",
    "RenderError",
    "RenderReason",
    "RenderedRun",
    "configmap_owned_by",
    "parameter_text",
    "render_run",
]

EVENT_ENV_LIMIT = 32 * 1024
"""Most bytes of event JSON given inline as `JOBWIRE_EVENT`; env values share the Pod's and the kernel's limits."""
EVENT_CONFIGMAP_LIMIT = 900 * 1024
"""Most bytes of event JSON a Job can receive at all: a ConfigMap holds 1 MiB, and its metadata needs room."""

KIND_LABEL = "jobwire.io/kind"
NAME_LABEL = "jobwire.io/name"
EVENT_ANNOTATION_ID = "jobwire.io/event-id"
EVENT_ANNOTATION_TYPE = "jobwire.io/event-type"
EVENT_ANNOTATION_SOURCE = "jobwire.io/event-source"
SCHEDULED_TIME_ANNOTATION = "jobwire.io/scheduled-time"

EVENT_VOLUME = "jobwire-event"
EVENT_MOUNT_PATH = "/var/run/jobwire"
EVENT_CONFIGMAP_KEY = "event.json"
RESERVED_ENV_PREFIX = "JOBWIRE_"
"""Parameters may not use it: the variables under it describe the event and are set by Jobwire alone."""

_EVENT_ENV = ("JOBWIRE_EVENT_ID", "JOBWIRE_EVENT_TYPE", "JOBWIRE_EVENT_SOURCE", "JOBWIRE_EVENT", "JOBWIRE_EVENT_FILE")
"""Every variable that describes the event; removed from the template in both delivery modes, so a template
cannot set `JOBWIRE_EVENT` beside a file-delivered event."""

RenderReason = Literal["ParameterFailed", "EventTooLarge", "InvalidJobTemplate"]


class RenderError(ValueError):
    """The run cannot be rendered; `reason` is CamelCase for a condition or a Kubernetes Event."""

    def __init__(self, reason: RenderReason, message: str) -> None:
        super().__init__(message)
        self.reason: RenderReason = reason
        self.message = message


@dataclass(frozen=True)
class RenderedRun:
    """What to create for one run: the Job, then (when the event is too big for env) its event ConfigMap."""

    job: dict[str, Any]
    """The batch/v1 Job, JSON-ready."""
    event_configmap: dict[str, Any] | None
    """A v1 ConfigMap to create right after the Job, owned by it (see `configmap_owned_by`); None when inline."""


def render_run(
    producer: ProducerRef,
    template: JobTemplate,
    event: Event,
    parameters: Sequence[Parameter],
    *,
    scheduled_time: datetime | None = None,
    owner_kind: str | None = None,
    service_account: str | None = None,
) -> RenderedRun:
    """The Job (and event ConfigMap) for `event` from `producer`'s `template`.

    `owner_kind` names the ownerReference's kind when it is not `producer.kind`. `service_account` (the identity
    the Job is created with) is not the Pod's: `serviceAccountName` in the template is left as written.
    """
    spec = _job_spec(template)
    pod_spec = spec["template"]["spec"]
    containers: list[dict[str, Any]] = pod_spec["containers"]
    targets = _parameter_targets(parameters, [container["name"] for container in containers])
    name = job_name(producer, event.id)
    payload = event.to_json()
    size = len(payload.encode("utf-8"))
    if size > EVENT_CONFIGMAP_LIMIT:
        raise RenderError(
            "EventTooLarge", f"event is {size} bytes; the most a Job can receive is {EVENT_CONFIGMAP_LIMIT}"
        )
    inline = size <= EVENT_ENV_LIMIT
    values = _parameter_values(parameters, event)
    labels = _producer_labels(producer)

    event_env = _event_env(event, payload if inline else None)
    for container in containers:
        given = [(parameters[index].name, values[index]) for index in targets[container["name"]]]
        container["env"] = _merged_env(container.get("env"), [*event_env, *given])
    pod_metadata = spec["template"].setdefault("metadata", {})
    pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **labels}

    configmap = None
    if not inline:
        configmap = _event_configmap(f"{name}-event", producer, event, payload)
        _mount_event_file(pod_spec, configmap["metadata"]["name"])

    metadata = {
        "name": name,
        "namespace": producer.namespace,
        "labels": {**_template_field(template, "labels"), **labels},
        "annotations": {**_template_field(template, "annotations"), **_event_annotations(event, scheduled_time)},
        "ownerReferences": [_owner_reference(producer, owner_kind or producer.kind)],
    }
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}
    return RenderedRun(job=job, event_configmap=configmap)


def configmap_owned_by(configmap: Mapping[str, Any], job_name: str, job_uid: str) -> dict[str, Any]:
    """A copy of the event ConfigMap owned by its Job: created after the Job (whose uid it needs), deleted with it."""
    owned = copy.deepcopy(dict(configmap))
    metadata = owned.setdefault("metadata", {})
    metadata["ownerReferences"] = [
        {"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": job_uid, "controller": True}
    ]
    return owned


def parameter_text(value: Any) -> str:
    """An expression's result as an env value: a string as it is, anything else as compact JSON (`true`, `42`,
    `1.5`, `null`, `["a",1]`) with sorted keys, since CEL maps have no order and the same event must render the
    same Job. Raises ValueError for results JSON cannot hold (NaN, infinities)."""
    plain = json_ready(value)
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)


def _job_spec(template: JobTemplate) -> dict[str, Any]:
    """A copy of the template's JobSpec, checked to have what rendering edits: a Pod spec with containers. The
    JSON-mode dump builds every dict and list anew, so editing the copy never reaches the template."""
    spec = template.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    pod_template = spec.get("template")
    if not isinstance(pod_template, dict) or not isinstance(pod_spec := pod_template.get("spec"), dict):
        raise RenderError("InvalidJobTemplate", "jobTemplate.spec.template.spec is missing")
    if not isinstance(pod_template.get("metadata", {}), dict):
        raise RenderError("InvalidJobTemplate", "jobTemplate.spec.template.metadata must be an object")
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise RenderError("InvalidJobTemplate", "jobTemplate.spec.template.spec.containers is missing or empty")
    for index, container in enumerate(containers):
        if not isinstance(container, dict) or not isinstance(container.get("name"), str) or not container["name"]:
            raise RenderError("InvalidJobTemplate", f"container {index} of the jobTemplate has no name")
        for field in ("env", "volumeMounts"):
            _check_list_of_objects(container.get(field), f"{field} of container {container['name']}")
    _check_list_of_objects(pod_spec.get("volumes"), "jobTemplate.spec.template.spec.volumes")
    return spec


def _check_list_of_objects(value: Any, what: str) -> None:
    if value is not None and not (isinstance(value, list) and all(isinstance(item, dict) for item in value)):
        raise RenderError("InvalidJobTemplate", f"{what} must be a list of objects")


def _parameter_targets(parameters: Sequence[Parameter], containers: Sequence[str]) -> dict[str, list[int]]:
    """Container name -> the indexes of the parameters it gets, in order; checks all that needs no event."""
    targets: dict[str, list[int]] = {container: [] for container in containers}
    for index, parameter in enumerate(parameters):
        if parameter.name.startswith(RESERVED_ENV_PREFIX):
            raise RenderError(
                "InvalidJobTemplate",
                f"parameter {parameter.name}: names starting with {RESERVED_ENV_PREFIX} are reserved for Jobwire",
            )
        for container in parameter.containers or containers:
            if container not in targets:
                raise RenderError(
                    "InvalidJobTemplate",
                    f"parameter {parameter.name} names container {container}, which the jobTemplate does not have",
                )
            if any(parameters[other].name == parameter.name for other in targets[container]):
                raise RenderError(
                    "InvalidJobTemplate",
                    f"parameter {parameter.name} is given twice to container {container}",
                )
            targets[container].append(index)
    return targets


def _parameter_values(parameters: Sequence[Parameter], event: Event) -> list[str]:
    """Each parameter's env value, in order. A failing expression takes its `default`, or refuses the run."""
    if not parameters:
        return []  # no event dict to build (a webhook's hot path)
    variables = {"event": event.to_dict()}
    return [_parameter_value(parameter, variables) for parameter in parameters]


def _parameter_value(parameter: Parameter, variables: dict[str, Any]) -> str:
    try:
        return parameter_text(evaluate(parameter.expression, variables))
    except CelError as exc:
        return _default_or_refuse(parameter, str(exc))
    except (TypeError, ValueError) as exc:
        return _default_or_refuse(
            parameter, str(CelError(parameter.expression, f"the result has no JSON form ({exc})"))
        )


def _default_or_refuse(parameter: Parameter, problem: str) -> str:
    if parameter.default is None:
        raise RenderError("ParameterFailed", f"parameter {parameter.name}: {problem}")
    return parameter.default


def _event_env(event: Event, payload: str | None) -> list[tuple[str, str]]:
    env = [
        ("JOBWIRE_EVENT_ID", event.id),
        ("JOBWIRE_EVENT_TYPE", event.type),
        ("JOBWIRE_EVENT_SOURCE", event.source),
    ]
    if payload is not None:
        env.append(("JOBWIRE_EVENT", payload))
    else:
        env.append(("JOBWIRE_EVENT_FILE", f"{EVENT_MOUNT_PATH}/{EVENT_CONFIGMAP_KEY}"))
    return env


def _merged_env(template_env: list[dict[str, Any]] | None, ours: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Ours first (escaped), then the template's minus any it shares a name with or that describes the event."""
    replaced = {name for name, _ in ours} | set(_EVENT_ENV)
    kept = [entry for entry in template_env or [] if entry.get("name") not in replaced]
    return [*({"name": name, "value": _kubelet_literal(value)} for name, value in ours), *kept]


def _kubelet_literal(value: str) -> str:
    """`value` such that the kubelet's `$(VAR)` expansion gives it back unchanged."""
    return value.replace("$", "$$")


def _event_configmap(name: str, producer: ProducerRef, event: Event, payload: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": producer.namespace,
            "labels": _producer_labels(producer),
            "annotations": {EVENT_ANNOTATION_ID: event.id},
        },
        # Immutable: the event never changes, and the kubelet then stops watching it.
        "immutable": True,
        "data": {EVENT_CONFIGMAP_KEY: payload},
    }


def _mount_event_file(pod_spec: dict[str, Any], configmap_name: str) -> None:
    """The event ConfigMap as a volume, mounted read-only in every regular container (ours replace same-named
    volumes and mounts, and mounts at our path, which the API server would refuse as duplicates)."""
    volumes = [volume for volume in pod_spec.get("volumes") or [] if volume.get("name") != EVENT_VOLUME]
    pod_spec["volumes"] = [*volumes, {"name": EVENT_VOLUME, "configMap": {"name": configmap_name}}]
    for container in pod_spec["containers"]:
        mounts = [
            mount
            for mount in container.get("volumeMounts") or []
            if mount.get("name") != EVENT_VOLUME and mount.get("mountPath") != EVENT_MOUNT_PATH
        ]
        container["volumeMounts"] = [*mounts, {"name": EVENT_VOLUME, "mountPath": EVENT_MOUNT_PATH, "readOnly": True}]


def _owner_reference(producer: ProducerRef, kind: str) -> dict[str, Any]:
    """The producer as the Job's controller: the Job is deleted with it, and watches find it by owner."""
    return {"apiVersion": API_VERSION, "kind": kind, "name": producer.name, "uid": producer.uid, "controller": True}


def _producer_labels(producer: ProducerRef) -> dict[str, str]:
    return {KIND_LABEL: producer.kind, NAME_LABEL: producer.name}


def _event_annotations(event: Event, scheduled_time: datetime | None) -> dict[str, str]:
    annotations = {
        EVENT_ANNOTATION_ID: event.id,
        EVENT_ANNOTATION_TYPE: event.type,
        EVENT_ANNOTATION_SOURCE: event.source,
    }
    if scheduled_time is not None:
        annotations[SCHEDULED_TIME_ANNOTATION] = format_rfc3339(scheduled_time)
    return annotations


def _template_field(template: JobTemplate, field: Literal["labels", "annotations"]) -> dict[str, str]:
    if template.metadata is None:
        return {}
    return dict(getattr(template.metadata, field) or {})

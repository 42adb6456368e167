"""A FAKE API server in memory, for unit tests of the pipeline and the tracker: objects by path, the few calls they
make. Only unit tests use it (to count API calls and to stage exact interleavings); the same behaviour is tested on
the real API server in tests/integration (test_run_history.py, test_high_availability.py, test_faults.py).

It knows what those two need and no more: get (one object, or a list of Jobs by label selector), create (409
AlreadyExists on a taken name; uid, creationTimestamp and resourceVersion filled in), replace of a `status`
subresource (409 Conflict from a resourceVersion that is not the object's), delete. Every call is kept in `calls`
so a test can count API calls. `FakeWorld` wires a Pipeline and a Tracker to it, with Events and published events
kept in lists.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from jobwire.events.bus import EventBus
from jobwire.events.model import Event, ProducerRef
from jobwire.jobs.pipeline import Pipeline, Target
from jobwire.jobs.tracker import Tracker
from jobwire.kube.api import JSON, jobs_path, jobwire_path
from jobwire.kube.errors import AlreadyExists, Conflict, NotFound
from jobwire.kube.events import ObjectRef
from jobwire.kube.status import StatusWriter
from jobwire.metrics import Metrics
from jobwire.status.conditions import format_time
from jobwire.timing.clock import FakeClock

__all__ = ["FakeKube", "FakeWorld", "Recorded"]


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[str, JSON] = {}
        self.calls: list[tuple[str, str]] = []
        self._versions = itertools.count(1)

    def put(self, path: str, body: JSON) -> JSON:
        """Store `body` at `path` as the API server would (uid, resourceVersion)."""
        stored = copy.deepcopy(body)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[path] = stored
        return copy.deepcopy(stored)

    async def get(self, path: str, query: dict[str, str] | None = None) -> JSON:
        self.calls.append(("get", path))
        if path in self.objects:
            return copy.deepcopy(self.objects[path])
        wanted = dict(pair.split("=", 1) for pair in (query or {}).get("labelSelector", "").split(",") if pair)
        prefix = path.rstrip("/") + "/"
        items = [
            copy.deepcopy(body)
            for key, body in self.objects.items()
            if key.startswith(prefix)
            and "/" not in key[len(prefix) :]
            and all((body["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]
        if not items and query is None:
            raise NotFound(f"{path} not found", status=404)
        return {"items": items}

    async def create(
        self,
        path: str,
        body: JSON,
        *,
        dry_run: bool = False,
        as_user: str | None = None,
        metadata_only: bool = False,
    ) -> JSON:
        self.calls.append(("create", path))
        key = f"{path}/{body['metadata']['name']}"
        if key in self.objects:
            raise AlreadyExists(f"{key} already exists", status=409)
        if dry_run:
            made = copy.deepcopy(body)
        else:
            stamped = copy.deepcopy(body)
            stamped["metadata"].setdefault("creationTimestamp", format_time(datetime.now(UTC)))
            made = self.put(key, stamped)
        if metadata_only:  # as the API server answers a PartialObjectMetadata
            return {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": made["metadata"]}
        return made

    async def replace(self, path: str, body: JSON) -> JSON:
        self.calls.append(("replace", path))
        key = path.removesuffix("/status")
        if key not in self.objects:
            raise NotFound(f"{key} not found", status=404)
        current = self.objects[key]
        given = (body.get("metadata") or {}).get("resourceVersion")
        if given is not None and given != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{key} was changed since resourceVersion {given}", status=409)
        return self.put(key, {**current, "status": copy.deepcopy(body.get("status") or {})})

    async def delete(self, path: str, *, propagation: str = "Background", as_user: str | None = None) -> JSON:
        self.calls.append(("delete", path))
        if path not in self.objects:
            raise NotFound(f"{path} not found", status=404)
        return self.objects.pop(path)


@dataclass
class Recorded:
    """The Kubernetes Events the pipeline and the tracker posted: (object name, reason, message)."""

    events: list[tuple[str, str, str]] = field(default_factory=list)

    async def record(self, about: ObjectRef, *, reason: str, message: str, warning: bool = False, at: datetime) -> None:
        self.events.append((about.name, reason, message))

    def reasons(self, reason: str) -> list[str]:
        return [message for _, r, message in self.events if r == reason]


class FakeWorld:
    """A Pipeline and a Tracker on a FakeKube; `restart()` gives fresh ones on the same objects (a new process).
    Run records are written at once (the tracker's linger and spacing, which gather a busy producer's records, are
    for real API servers)."""

    def __init__(self) -> None:
        self.kube = FakeKube()
        self.clock = FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC))
        self.recorded = Recorded()
        self.published: list[Event] = []
        self.targets: dict[tuple[str, str, str], Target] = {}
        self.restart()

    def restart(self) -> None:
        self.bus = EventBus()
        self.bus.subscribe(self._published)
        self.status = StatusWriter(self.kube)  # type: ignore[arg-type]  # the calls it makes, in memory
        self.pipeline = Pipeline(
            self.kube,  # type: ignore[arg-type]
            self.status,
            self.recorded,  # type: ignore[arg-type]
            Metrics(CollectorRegistry()),
            self.clock,
            self.bus,
        )
        self.tracker = Tracker(
            kube=self.kube,  # type: ignore[arg-type]
            pipeline=self.pipeline,
            status=self.status,
            recorder=self.recorded,  # type: ignore[arg-type]
            metrics=Metrics(CollectorRegistry()),
            clock=self.clock,
            bus=self.bus,
            resolve=self._resolve,
            plurals={"Webhook": "webhooks", "Schedule": "schedules"},
            record_linger=0.0,
            record_spacing=0.0,
        )

    async def _published(self, event: Event, producer: ProducerRef | None) -> None:
        self.published.append(event)

    async def _resolve(self, kind: str, namespace: str, name: str) -> Target | None:
        return self.targets.get((kind, namespace, name))

    def producer(self, target: Target) -> Target:
        """Store the producer object and return its Target with the stored uid."""
        ref = target.ref
        stored = self.kube.put(
            jobwire_path(target.plural, ref.namespace, ref.name),
            {
                "apiVersion": "jobwire.io/v1alpha1",
                "kind": ref.kind,
                "metadata": {"name": ref.name, "namespace": ref.namespace},
            },
        )
        ref = ProducerRef(kind=ref.kind, namespace=ref.namespace, name=ref.name, uid=stored["metadata"]["uid"])
        real = Target(ref=ref, plural=target.plural, run=target.run)
        self.targets[(ref.kind, ref.namespace, ref.name)] = real
        return real

    def status_of(self, target: Target) -> dict[str, Any]:
        found: dict[str, Any] = (
            self.kube.objects[jobwire_path(target.plural, target.ref.namespace, target.ref.name)].get("status") or {}
        )
        return copy.deepcopy(found)

    def job(self, target: Target, name: str) -> JSON | None:
        found = self.kube.objects.get(jobs_path(target.ref.namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def jobs(self, target: Target) -> list[JSON]:
        prefix = jobs_path(target.ref.namespace) + "/"
        return [copy.deepcopy(j) for k, j in self.kube.objects.items() if k.startswith(prefix)]

    def finish(self, target: Target, name: str, *, failed: bool = False, after: float = 1.0) -> JSON:
        """Mark the Job finished as the job controller would (started then, finished `after` seconds later)."""
        path = jobs_path(target.ref.namespace, name)
        job = self.kube.objects[path]
        start = datetime.fromisoformat(job["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        end = start + timedelta(seconds=after)
        condition = {
            "type": "Failed" if failed else "Complete",
            "status": "True",
            "lastTransitionTime": format_time(end),
        }
        status: JSON = {"startTime": format_time(start), "conditions": [condition]}
        if not failed:
            status["completionTime"] = format_time(end)
        return self.kube.put(path, {**job, "status": status})

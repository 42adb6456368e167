"""The one pipeline every producer's events go through: decide (concurrency policy), render, create, record.

    dispatch(target, event)
      ├─ suspended?                       -> skipped, recorded
      ├─ its Job already exists?          -> duplicate (same Job name: nothing new is created)
      ├─ its Job was deleted (history)?   -> duplicate (status.prunedJobs, known in memory: jobs/pruned.py)
      ├─ concurrency policy               -> create | replace then create | skip | enqueue | refuse
      ├─ render (pure: name, labels, env, parameters)
      ├─ create the Job (AlreadyExists counts as success: each event makes its Job exactly once)
      └─ status: active, lastRun, totals; a Kubernetes Event; metrics

API server outages raise `Unavailable` to the caller, which retries (ticks) or answers 503 (webhooks): nothing
accepted is lost, and the idempotent Job name makes every retry safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobwire.api.common import ConcurrencyPolicy, JobTemplate, Parameter, ProducerSpec, QueuedEvent
from jobwire.events.bus import EventBus
from jobwire.events.model import Event, ProducerRef
from jobwire.jobs.history import job_result, record_skipped
from jobwire.jobs.naming import job_name
from jobwire.jobs.policy import DEFAULT_MAX_QUEUED, ActiveJob, decide, next_from_queue
from jobwire.jobs.pruned import PrunedJobs
from jobwire.jobs.render import RenderError, configmap_owned_by, render_run
from jobwire.kube.api import JSON, Kube, core_path, jobs_path
from jobwire.kube.errors import AlreadyExists, Forbidden, Invalid, KubeError, NotFound
from jobwire.kube.events import EventRecorder, ObjectRef
from jobwire.kube.status import StatusWriter
from jobwire.metrics import Metrics
from jobwire.status.conditions import Verdict, set_condition
from jobwire.timing.clock import Clock

__all__ = ["DispatchOutcome", "DispatchResult", "Pipeline", "RunSpec", "Target"]

log = logging.getLogger(__name__)

FORBIDDEN_RECHECK_SECONDS = 1.0
"""A Job refused with 403 is asked for once more after this long before the refusal counts: an API server that has
just started serves requests before its authorizer has read the RBAC bindings, and for a moment refuses what they
allow (about 0.2 s after a restart, measured by tests/integration/test_faults.py). Without the second look a tick or
an item that came then was skipped for good, and its producer set Ready=False."""

EVENT_TYPES_COUNTED = 100


@dataclass(frozen=True)
class RunSpec:
    """How a producer's events become Jobs: its template and the shared policies."""

    template: JobTemplate
    parameters: tuple[Parameter, ...] = ()
    policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    max_active: int | None = None
    max_queued: int = DEFAULT_MAX_QUEUED
    successful_limit: int = 3
    failed_limit: int = 1
    suspended: bool = False
    service_account: str | None = None

    @classmethod
    def of(cls, spec: ProducerSpec) -> RunSpec | None:
        if spec.job_template is None:
            return None
        return cls(
            template=spec.job_template,
            parameters=tuple(spec.parameters or ()),
            policy=ConcurrencyPolicy(spec.concurrency_policy),
            max_active=spec.max_active,
            max_queued=spec.max_queued or DEFAULT_MAX_QUEUED,
            successful_limit=spec.successful_jobs_history_limit,
            failed_limit=spec.failed_jobs_history_limit,
            suspended=spec.suspend,
            service_account=spec.service_account_name,
        )


@dataclass(frozen=True)
class Target:
    """A producer and how its events run."""

    ref: ProducerRef
    plural: str
    run: RunSpec

    @property
    def about(self) -> ObjectRef:
        return ObjectRef.of(self.ref)


class DispatchOutcome(StrEnum):
    CREATED = "Created"
    DUPLICATE = "Duplicate"
    SKIPPED = "Skipped"
    QUEUED = "Queued"
    REFUSED = "Refused"


@dataclass(frozen=True)
class DispatchResult:
    outcome: DispatchOutcome
    jobs: tuple[str, ...] = ()
    reason: str = ""
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """The event is safe: its Job exists, or it waits in the queue kept in status."""
        return self.outcome in (DispatchOutcome.CREATED, DispatchOutcome.DUPLICATE, DispatchOutcome.QUEUED)


def active_jobs_of(jobs: Sequence[JSON]) -> list[ActiveJob]:
    return [
        ActiveJob(
            name=j["metadata"]["name"],
            event_id=(j["metadata"].get("annotations") or {}).get("jobwire.io/event-id"),
            created=None,
        )
        for j in jobs
        if job_result(j) is None
    ]


class Pipeline:
    def __init__(
        self,
        kube: Kube,
        status: StatusWriter,
        recorder: EventRecorder,
        metrics: Metrics,
        clock: Clock,
        bus: EventBus,
        *,
        default_service_account: str | None = None,
    ) -> None:
        """`default_service_account`: Jobs are created and deleted as `spec.serviceAccountName`, else this
        ServiceAccount, of the resource's namespace (impersonation); None: as the operator itself."""
        self._default_service_account = default_service_account
        self._queued: dict[tuple[str, str, str], int] = {}
        self._event_types: set[str] = set()
        self._bus = bus
        self._kube = kube
        self._status = status
        self._recorder = recorder
        self._metrics = metrics
        self._clock = clock
        self.pruned = PrunedJobs(status.read)
        """The Jobs each producer's history limits deleted: their events are duplicates too (jobs/pruned.py)."""

    def runs_as(self, target: Target) -> str | None:
        """The user Jobs of `target` are created and deleted as (None: the operator's own identity)."""
        if self._default_service_account is None:
            return None
        account = target.run.service_account or self._default_service_account
        return f"system:serviceaccount:{target.ref.namespace}:{account}"

    async def jobs_of(self, ref: ProducerRef) -> list[JSON]:
        selector = f"jobwire.io/kind={ref.kind},jobwire.io/name={ref.name}"
        listing = await self._kube.get(jobs_path(ref.namespace), {"labelSelector": selector})
        return [j for j in listing.get("items", []) if _owned_by(j, ref)]

    async def publish(self, producer: ProducerRef, event: Event) -> None:
        """Count an event and tell the bus (Automations); `dispatch` does it for events that run Jobs."""
        self._metrics.events.labels(producer.kind, self._type_label(event.type)).inc()
        await self._bus.publish(event, producer)

    def _type_label(self, event_type: str) -> str:
        """The `type` label of jobwire_events_total: a sender chooses a CloudEvent's type, so only the first
        EVENT_TYPES_COUNTED types get series of their own; the rest count as "other"."""
        if event_type in self._event_types:
            return event_type
        if len(self._event_types) < EVENT_TYPES_COUNTED:
            self._event_types.add(event_type)
            return event_type
        return "other"

    async def dispatch(
        self, target: Target, event: Event, *, scheduled_time: datetime | None = None, publish: bool = True
    ) -> DispatchResult:
        """`publish=False`: the caller has told the bus already (an Automation publishes its firing once, however
        many Jobs it runs)."""
        kind = target.ref.kind
        if publish:
            await self.publish(target.ref, event)
        run = target.run
        if run.suspended:
            return await self._skip(target, event, "Suspended", f"{kind} is suspended")
        name = job_name(target.ref, event.id)
        if await self._pruned(target, name):  # its Job ran and was deleted by the history limits
            return DispatchResult(DispatchOutcome.DUPLICATE, (name,))
        needs_active = run.policy is not ConcurrencyPolicy.ALLOW or run.max_active is not None
        queue: list[JSON] | None = None
        if run.policy is ConcurrencyPolicy.QUEUE:
            # Read before the Jobs are listed: `drain_queue` creates a Job, then dequeues its event; in this order
            # an empty queue read here means that Job is in the listing below (no second Job beside it).
            body = await self._status.read(target.plural, target.ref.namespace, target.ref.name)
            self.pruned.learn_object(target.plural, body)
            queue = (body.get("status") or {}).get("queue") or []
        jobs = await self.jobs_of(target.ref) if needs_active else []
        if any(job["metadata"]["name"] == name for job in jobs):  # running or finished: its Job exists
            return DispatchResult(DispatchOutcome.DUPLICATE, (name,))
        active = active_jobs_of(jobs)
        queued = 0
        if queue is not None:
            if any(item.get("id") == event.id for item in queue):
                return DispatchResult(DispatchOutcome.QUEUED, reason="AlreadyQueued")
            queued = len(queue)
        decision = decide(run.policy, active, max_active=run.max_active, queued=queued, max_queued=run.max_queued)
        outcome = decision.outcome
        if outcome == "Skip":
            return await self._skip(target, event, decision.reason, decision.message)
        if outcome == "Refuse":
            await self._set_condition(target, "QueueOverflow", "True", decision.reason, decision.message)
            result = await self._skip(target, event, decision.reason, decision.message)
            return DispatchResult(DispatchOutcome.REFUSED, reason=result.reason, message=result.message)
        if outcome == "Enqueue":
            return await self._enqueue(target, event, scheduled_time)
        for victim in decision.replace:
            await self._delete_job(target, victim, because=f"replaced by the Job for event {event.id}")
        return await self.create(target, event, scheduled_time=scheduled_time)

    async def create(self, target: Target, event: Event, *, scheduled_time: datetime | None = None) -> DispatchResult:
        """Render and create the Job for `event`, bypassing the concurrency decision (already taken)."""
        try:
            rendered = render_run(
                target.ref,
                target.run.template,
                event,
                target.run.parameters,
                scheduled_time=scheduled_time,
                service_account=target.run.service_account,
            )
        except RenderError as exc:
            if exc.reason == "InvalidJobTemplate":
                await self._set_condition(target, "Ready", "False", exc.reason, str(exc.message))
            return await self._skip(target, event, exc.reason, str(exc.message), warning=True)
        name = rendered.job["metadata"]["name"]
        try:
            job = await self._create_job(target, rendered.job)
            created = True
        except AlreadyExists:
            job = await self._kube.get(jobs_path(target.ref.namespace, name))
            created = False
        except Invalid as exc:
            await self._set_condition(target, "Ready", "False", "InvalidJobTemplate", str(exc))
            return await self._skip(target, event, "InvalidJobTemplate", str(exc), warning=True)
        except Forbidden as exc:
            await self._set_condition(target, "Ready", "False", "Forbidden", str(exc))
            return await self._skip(target, event, "Forbidden", str(exc), warning=True)
        if rendered.event_configmap is not None:
            configmap = configmap_owned_by(rendered.event_configmap, name, job["metadata"]["uid"])
            try:
                await self._kube.create(
                    core_path(target.ref.namespace, "configmaps"), configmap, as_user=self.runs_as(target)
                )
            except AlreadyExists:
                pass
            except Forbidden as exc:
                # Not an outage (a retry would meet the same answer): the identity may create Jobs but not the
                # ConfigMap a large event travels in. The Job could never start: remove it and say why.
                await self._delete_job(target, name, because=f"its event ConfigMap was refused: {exc}")
                await self._set_condition(target, "Ready", "False", "Forbidden", str(exc))
                return await self._skip(target, event, "Forbidden", str(exc), warning=True)
        # The run itself (active, lastRun, totals) is recorded by the tracker, which sees every Job it watches:
        # one writer of run records, and no status write on the path from event to Job.
        if created:
            self._metrics.jobs_created.labels(target.ref.kind).inc()
            self._metrics.event_to_job.labels(target.ref.kind).observe(
                max(0.0, (self._clock.now() - event.time).total_seconds())
            )
            await self._recorder.record(
                target.about,
                reason="JobCreated",
                message=f"Created Job {name} for event {event.id}",
                at=self._clock.now(),
            )
        return DispatchResult(DispatchOutcome.CREATED if created else DispatchOutcome.DUPLICATE, (name,))

    async def check_template(self, target: Target) -> Verdict:
        """A server-side dry run of the Job an event would create: the API server's verdict, before any event.

        Problems that depend on the event (a parameter that fails) are judged per run, not here."""
        probe = Event(id="dry-run", source=target.ref.source, type="jobwire.dry-run", time=self._clock.now(), data={})
        try:
            rendered = render_run(target.ref, target.run.template, probe, target.run.parameters)
            await self._create_job(target, rendered.job, dry_run=True)
        except RenderError as exc:
            if exc.reason != "ParameterFailed":
                return Verdict(False, exc.reason, str(exc.message))
        except Invalid as exc:
            return Verdict(False, "InvalidJobTemplate", str(exc))
        except Forbidden as exc:
            return Verdict(False, "Forbidden", str(exc))
        except KubeError as exc:
            log.warning("dry run of %s/%s failed: %s", target.ref.namespace, target.ref.name, exc)
        return Verdict(True, "Accepted", "")

    async def _create_job(self, target: Target, job: JSON, *, dry_run: bool = False) -> JSON:
        """Create the Job as the producer's identity; a 403 is believed only when a second look agrees.
        The answer is the Job's metadata alone: all the pipeline reads of it (the tracker sees the whole Job)."""
        path = jobs_path(target.ref.namespace)
        identity = self.runs_as(target)
        try:
            return await self._kube.create(path, job, dry_run=dry_run, as_user=identity, metadata_only=True)
        except Forbidden:
            await asyncio.sleep(FORBIDDEN_RECHECK_SECONDS)
            return await self._kube.create(path, job, dry_run=dry_run, as_user=identity, metadata_only=True)

    async def drain_queue(self, target: Target) -> list[DispatchResult]:
        """Start queued events while there are free slots, oldest first; each leaves the queue once its Job exists."""
        results: list[DispatchResult] = []
        body = await self._status.read(target.plural, target.ref.namespace, target.ref.name)
        self.pruned.learn_object(target.plural, body)
        queue = [QueuedEvent.model_validate(q) for q in (body.get("status") or {}).get("queue") or []]
        if not queue or target.run.suspended:
            return results
        jobs = await self.jobs_of(target.ref)
        made = {found for job in jobs if (found := _event_id(job)) is not None}
        names = {job_name(target.ref, item.id): item.id for item in queue}
        made |= {names[name] for name in await self._pruned(target, *names)}
        for item in next_from_queue(queue, len(active_jobs_of(jobs)), target.run.max_active, made):
            if item.id in made:  # its Job was made before a crash kept it queued: dequeued, not made again
                result = DispatchResult(DispatchOutcome.DUPLICATE, (job_name(target.ref, item.id),))
            else:
                event = Event(
                    id=item.id,
                    source=item.source,
                    type=item.type,
                    time=item.time or self._clock.now(),
                    subject=item.subject,
                    data=item.data,
                )
                result = await self.create(target, event, scheduled_time=item.scheduled_time)
            results.append(result)
            self._count_queue(
                target,
                await self._status.update(target.plural, target.ref.namespace, target.ref.name, _without(item.id)),
            )
        if results:
            await self._clear_overflow(target)
        return results

    async def _pruned(self, target: Target, *names: str) -> set[str]:
        ref = target.ref
        return await self.pruned.holds(target.plural, ref.namespace, ref.name, ref.uid, names)

    async def _enqueue(self, target: Target, event: Event, scheduled_time: datetime | None) -> DispatchResult:
        item = QueuedEvent(
            scheduled_time=scheduled_time,
            id=event.id,
            type=event.type,
            source=event.source,
            subject=event.subject,
            time=event.time,
            data=event.data,
        ).wire()

        def change(status: JSON) -> JSON:
            queue = list(status.get("queue") or [])
            if not any(q.get("id") == event.id for q in queue):
                queue.append(item)
            return {**status, "queue": queue}

        self._count_queue(
            target, await self._status.update(target.plural, target.ref.namespace, target.ref.name, change)
        )
        return DispatchResult(DispatchOutcome.QUEUED, reason="Queued", message="waiting for a free slot")

    def _count_queue(self, target: Target, status: JSON | None) -> None:
        """`jobwire_queue_depth`: the events waiting over all producers, as their statuses last said."""
        key = (target.plural, target.ref.namespace, target.ref.name)
        waiting = len((status or {}).get("queue") or [])
        if waiting:
            self._queued[key] = waiting
        else:
            self._queued.pop(key, None)
        self._metrics.queue_depth.set(sum(self._queued.values()))

    async def _skip(
        self, target: Target, event: Event, reason: str, message: str, *, warning: bool = False
    ) -> DispatchResult:
        now = self._clock.now()
        self._metrics.runs_skipped.labels(target.ref.kind, reason).inc()
        await self._status.update(
            target.plural,
            target.ref.namespace,
            target.ref.name,
            lambda status: record_skipped(status, event_id=event.id, reason=reason, message=message, time=now),
        )
        await self._recorder.record(
            target.about,
            reason="RunSkipped",
            message=f"No Job for event {event.id}: {reason}: {message}",
            warning=warning,
            at=now,
        )
        return DispatchResult(DispatchOutcome.SKIPPED, reason=reason, message=message)

    async def _delete_job(self, target: Target, name: str, *, because: str) -> None:
        try:
            await self._kube.delete(
                jobs_path(target.ref.namespace, name), propagation="Background", as_user=self.runs_as(target)
            )
        except NotFound:
            return
        except Forbidden as exc:
            await self._recorder.record(
                target.about, reason="DeleteForbidden", message=f"Job {name}: {exc}", warning=True, at=self._clock.now()
            )
            return
        await self._recorder.record(
            target.about, reason="JobReplaced", message=f"Deleted Job {name}: {because}", at=self._clock.now()
        )

    async def _set_condition(self, target: Target, kind: str, status: str, reason: str, message: str) -> None:
        now = self._clock.now()
        await self._status.update(
            target.plural,
            target.ref.namespace,
            target.ref.name,
            lambda s: {
                **s,
                "conditions": set_condition(
                    s.get("conditions"),
                    kind=kind,
                    status=status,  # type: ignore[arg-type]
                    reason=reason,
                    message=message,
                    generation=None,
                    now=now,
                ),
            },
        )

    async def _clear_overflow(self, target: Target) -> None:
        await self._set_condition(target, "QueueOverflow", "False", "QueueDraining", "the queue has room again")


def _owned_by(job: JSON, ref: ProducerRef) -> bool:
    """A Job with our labels belongs to this incarnation of the producer (not a deleted namesake's)."""
    owners = job.get("metadata", {}).get("ownerReferences") or []
    return not owners or any(o.get("uid") == ref.uid for o in owners)


def _event_id(job: JSON) -> str | None:
    found = (job["metadata"].get("annotations") or {}).get("jobwire.io/event-id")
    return found if isinstance(found, str) else None


def _without(event_id: str) -> Callable[[JSON], JSON]:
    """A status change that takes `event_id` out of the queue."""

    def change(status: JSON) -> JSON:
        return {**status, "queue": [q for q in status.get("queue") or [] if q.get("id") != event_id]}

    return change

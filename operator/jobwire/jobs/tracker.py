"""Follow the Jobs Jobwire created (watched by label) and write what happened into their producer's status.

A Job that starts or finishes updates `active`, `lastRun`, `recentRuns` and `totals`, posts a Kubernetes Event,
publishes `jobwire.job.started|succeeded|failed` for Automations, applies the history limits (when a Job
finishes, not on a timer) and starts queued events. Every step is idempotent: the watch may replay a Job after a
restart, and replaying it changes nothing.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime

from jobwire.api.common import RunResult
from jobwire.events.bus import EventBus
from jobwire.events.model import JOB_FAILED, JOB_STARTED, JOB_SUCCEEDED, Event, ProducerRef
from jobwire.jobs.history import (
    job_result,
    job_times,
    jobs_to_delete,
    record_finished,
    record_pruned,
    record_started,
)
from jobwire.jobs.pipeline import Pipeline, Target
from jobwire.kube.api import JSON, Kube, jobs_path
from jobwire.kube.errors import Forbidden, KubeError, NotFound
from jobwire.kube.events import EventRecorder, ObjectRef
from jobwire.kube.status import StatusWriter
from jobwire.metrics import Metrics
from jobwire.status.conditions import format_time
from jobwire.timing.clock import Clock

__all__ = ["TargetResolver", "Tracker", "forget_active"]

log = logging.getLogger(__name__)

KIND_LABEL = "jobwire.io/kind"
NAME_LABEL = "jobwire.io/name"
SEEN_LIMIT = 50_000
RECORD_LINGER = 0.2
"""Seconds a run record waits for others of the same producer, so a busy one gets a few status writes a second."""

TargetResolver = Callable[[str, str, str], Awaitable[Target | None]]
"""(kind, namespace, name) -> the producer's current Target, or None if it is gone or runs no Jobs."""


def forget_active(status: JSON, job_name: str) -> JSON:
    """A Job deleted while it ran (Replace, or by hand) leaves `active` without counting as a result."""
    listed = list(status.get("active") or [])
    active = [a for a in listed if a.get("name") != job_name]
    count = max(int(status.get("activeCount") or 0), len(listed))
    # Listed, or one of those the bounded list had no room for.
    was_active = len(active) < len(listed) or count > len(listed)
    return {**status, "active": active, "activeCount": max(len(active), count - (1 if was_active else 0))}


class Tracker:
    def __init__(
        self,
        *,
        kube: Kube,
        pipeline: Pipeline,
        status: StatusWriter,
        recorder: EventRecorder,
        metrics: Metrics,
        clock: Clock,
        bus: EventBus,
        resolve: TargetResolver,
        plurals: dict[str, str],
    ):
        self._kube = kube
        self._pipeline = pipeline
        self._status = status
        self._recorder = recorder
        self._metrics = metrics
        self._clock = clock
        self._bus = bus
        self._resolve = resolve
        self._plurals = plurals
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    def deactivate(self) -> None:
        """This replica no longer leads: the next time it does, it records every Job it lists afresh."""
        self._seen.clear()

    def _first_time(self, uid: str, phase: str) -> bool:
        key = (uid, phase)
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    async def observe(self, job: JSON, *, deleted: bool = False) -> None:
        meta = job.get("metadata") or {}
        labels = meta.get("labels") or {}
        kind, producer = labels.get(KIND_LABEL), labels.get(NAME_LABEL)
        plural = self._plurals.get(kind or "")
        if not producer or plural is None:
            return
        namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
        annotations = meta.get("annotations") or {}
        event_id = annotations.get("jobwire.io/event-id", "")
        owner_uid = next((o.get("uid", "") for o in meta.get("ownerReferences") or [] if o.get("kind") == kind), "")
        ref = ProducerRef(kind=kind or "", namespace=namespace, name=producer, uid=owner_uid, labels=labels)
        result = job_result(job)
        if deleted:
            if result is None:
                await self._status.update(plural, namespace, producer, lambda s: forget_active(s, name))
                target, victims = await self._history(ref)
                await self._prune(target, victims, plural)
                await self._drain(target)
            elif not await self._pipeline.pruned.holds(plural, namespace, producer, owner_uid, [name]):
                # Finished, and deleted by someone else (its ttlSecondsAfterFinished, a person): remembered too, so
                # that a retry of its event does not run it again.
                self._learn(plural, ref, await self._status.update(plural, namespace, producer, pruning([name])))
            return
        start, completion = job_times(job)
        if result is None:
            if self._first_time(uid, "created"):
                scheduled = _parse_time(annotations.get("jobwire.io/scheduled-time"))
                await self._status.update(
                    plural,
                    namespace,
                    producer,
                    lambda s: record_started(
                        s,
                        job_name=name,
                        job_uid=uid,
                        event_id=event_id,
                        scheduled_time=scheduled,
                        start_time=start,
                    ),
                    linger=RECORD_LINGER,
                )
            if start is not None and self._first_time(uid, "started"):
                await self._publish(JOB_STARTED, job, ref, start)
            return
        if not self._first_time(uid, str(result)):
            return
        # The Jobs beyond the history limits now: their deletion is remembered in the same write as this run.
        target, victims = await self._history(ref)
        changed = False

        def finish(status: JSON) -> JSON:
            nonlocal changed
            updated = record_finished(
                status, job_name=name, event_id=event_id, result=result, start_time=start, completion_time=completion
            )
            if result is RunResult.SUCCEEDED and kind == "Schedule" and completion is not None:
                # Only ever forward: a restart replays older Jobs after newer ones, and a replay must change nothing
                # (a change here posted the Job's Event and published its event a second time).
                previous = _parse_time(updated.get("lastSuccessfulTime"))
                if previous is None or completion > previous:
                    updated = {**updated, "lastSuccessfulTime": format_time(completion)}
            changed = updated != status
            return record_pruned(updated, victims)

        self._learn(plural, ref, await self._status.update(plural, namespace, producer, finish, linger=RECORD_LINGER))
        if changed:
            succeeded = result is RunResult.SUCCEEDED
            await self._recorder.record(
                ObjectRef.of(ref),
                reason="JobSucceeded" if succeeded else "JobFailed",
                message=f"Job {name} {'succeeded' if succeeded else 'failed'} (event {event_id})",
                warning=not succeeded,
                at=self._clock.now(),
            )
            await self._publish(JOB_SUCCEEDED if succeeded else JOB_FAILED, job, ref, completion or self._clock.now())
        await self._prune(target, victims, plural, recorded=True)
        await self._drain(target)

    def producer_seen(self, plural: str, body: JSON, *, deleted: bool) -> None:
        """A producer from the watch (on every replica): what its status says the history limits deleted."""
        if deleted:
            meta = body.get("metadata") or {}
            self._pipeline.pruned.forget(plural, meta.get("namespace", ""), meta.get("name", ""))
        else:
            self._pipeline.pruned.learn_object(plural, body)

    def _learn(self, plural: str, ref: ProducerRef, status: JSON | None) -> None:
        if status is not None:
            self._pipeline.pruned.learn(plural, ref.namespace, ref.name, ref.uid, status)

    async def _history(self, ref: ProducerRef) -> tuple[Target | None, list[str]]:
        """The producer's current Target, and its finished Jobs beyond the history limits, oldest first."""
        try:
            target = await self._resolve(ref.kind, ref.namespace, ref.name)
            if target is None or not target.ref.uid:
                return None, []
            finished = [j for j in await self._pipeline.jobs_of(target.ref) if job_result(j) is not None]
        except KubeError as exc:
            # The run is recorded all the same; the limits are applied when the next Job finishes.
            log.warning("history of %s %s/%s not read: %s", ref.kind, ref.namespace, ref.name, exc)
            return None, []
        return target, jobs_to_delete(finished, target.run.successful_limit, target.run.failed_limit)

    async def _prune(self, target: Target | None, victims: list[str], plural: str, *, recorded: bool = False) -> None:
        """Delete `victims`, once their deletion is in the producer's status (`recorded`, else written here first):
        a retry of their events must find them there as soon as they are gone."""
        if target is None or not victims:
            return
        ref = target.ref
        if not recorded:
            self._learn(plural, ref, await self._status.update(plural, ref.namespace, ref.name, pruning(victims)))
        for victim in victims:
            try:
                await self._kube.delete(
                    jobs_path(ref.namespace, victim), propagation="Background", as_user=self._pipeline.runs_as(target)
                )
            except NotFound:
                continue
            except Forbidden as exc:
                # The identity Jobs are made as may not delete them: the history limit cannot hold; say so once.
                await self._recorder.record(
                    ObjectRef.of(ref), reason="DeleteForbidden", message=str(exc), warning=True, at=self._clock.now()
                )
                break

    async def _drain(self, target: Target | None) -> None:
        if target is not None and target.run.policy == "Queue":
            await self._pipeline.drain_queue(target)

    async def _publish(self, kind: str, job: JSON, ref: ProducerRef, at: datetime) -> None:
        meta = job["metadata"]
        event = Event(
            id=f"{meta.get('uid', meta['name'])}-{kind.rsplit('.', 1)[-1]}",
            source=ref.source,
            type=kind,
            subject=meta["name"],
            time=at,
            data={
                "job": meta["name"],
                "namespace": meta["namespace"],
                "eventId": (meta.get("annotations") or {}).get("jobwire.io/event-id"),
                "labels": meta.get("labels") or {},
            },
        )
        await self._bus.publish(event, ref)


def pruning(job_names: list[str]) -> Callable[[JSON], JSON]:
    """A status change that remembers the deletion of `job_names` (`prunedJobs`)."""
    return lambda status: record_pruned(status, job_names)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))

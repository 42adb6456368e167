"""Follow the Jobs Jobwire created (watched by label) and write what happened into their producer's status.

A Job that starts or finishes updates `active`, `lastRun`, `recentRuns` and `totals`, posts a Kubernetes Event,
publishes `jobwire.job.started|succeeded|failed` for Automations, applies the history limits (when a Job
finishes, not on a timer) and starts queued events. Every step is idempotent: the watch may replay a Job after a
restart, and replaying it changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime

from jobwire.api.common import RunResult
from jobwire.events.bus import EventBus
from jobwire.events.model import JOB_FAILED, JOB_STARTED, JOB_SUCCEEDED, Event, ProducerRef
from jobwire.jobs.history import (
    Finished,
    job_result,
    job_times,
    jobs_to_delete,
    record_finishes,
    record_pruned,
    record_started,
)
from jobwire.jobs.pipeline import Pipeline, Target
from jobwire.kube.api import JSON, Kube, jobs_path
from jobwire.kube.errors import Forbidden, KubeError, NotFound
from jobwire.kube.events import EventRecorder, ObjectRef
from jobwire.kube.status import StatusWriter
from jobwire.metrics import Metrics
from jobwire.timing.clock import Clock

__all__ = ["TargetResolver", "Tracker", "forget_active"]

log = logging.getLogger(__name__)

KIND_LABEL = "jobwire.io/kind"
NAME_LABEL = "jobwire.io/name"
SEEN_LIMIT = 50_000
RECORD_LINGER = 0.2
"""Seconds a run record waits for others of the same producer, so that a burst of them shares one status write."""
RECORD_SPACING = 1.0
"""A producer's start records are written at most once a second: a busy producer (a Webhook taking hundreds of
requests a second) gets one status write a second instead of five, each of which costs the API server 5-12 ms of
CPU (benchmarks/RESULTS.md); a quiet one still sees its first record after RECORD_LINGER."""

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
        record_linger: float = RECORD_LINGER,
        record_spacing: float = RECORD_SPACING,
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
        self._linger = record_linger
        self._spacing = record_spacing
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._term = _new_term()

    def deactivate(self) -> None:
        """This replica no longer leads: the next time it does, it records every Job it lists afresh, in a new
        term (`startsCounted` in jobs/history.py: what the terms before it counted is read afresh then)."""
        self._seen.clear()
        self._term = _new_term()

    def _first_time(self, uid: str, phase: str) -> bool:
        key = (uid, phase)
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    def _unwritten(self, done: asyncio.Future[JSON | None], uid: str, producer: str) -> None:
        """A start record that could not be written: forgotten, so that the Job's next event records it again."""
        if done.cancelled() or isinstance(exc := done.exception(), asyncio.CancelledError | None):
            return  # written, or stopped with the operator (the next leader's replay records it)
        self._seen.pop((uid, "created"), None)
        log.warning("a Job's start (uid %s) not recorded in the status of %s: %s", uid, producer, exc)

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
                target, listing = await self._history(ref)
                await self._prune(target, self._victims(target, listing), plural)
                await self._drain(target)
            elif not await self._pipeline.pruned.holds(plural, namespace, producer, owner_uid, [name]):
                # Finished, and deleted by someone else (its ttlSecondsAfterFinished, a person): remembered too, so
                # that a retry of its event does not run it again; and counted, should that not have happened yet.
                await self._record(job, ref, plural, [], listed=False, pruned=[name])
            return
        start, _ = job_times(job)
        if result is None:
            if self._first_time(uid, "created"):
                scheduled = _parse_time(annotations.get("jobwire.io/scheduled-time"))
                created, term = _parse_time(meta.get("creationTimestamp")), self._term
                # Not awaited: the handler returns at once and frees its Kopf worker (a worker waiting out the
                # linger of every Job it was given capped tracking at a few hundred Jobs a second). A failed
                # write is tried again at the Job's next event; one lost at a stop, by the next leader's replay.
                written = self._status.submit(
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
                        created=created,
                        term=term,
                    ),
                    linger=self._linger,
                    spacing=self._spacing,
                )
                written.add_done_callback(lambda done: self._unwritten(done, uid, f"{plural} {namespace}/{producer}"))
            if start is not None and self._first_time(uid, "started"):
                await self._publish(JOB_STARTED, job, ref, start)
            return
        if not self._first_time(uid, str(result)):
            return
        target, listing = await self._history(ref)
        victims = self._victims(target, listing)
        await self._record(job, ref, plural, listing or [], listed=listing is not None, pruned=victims)
        await self._prune(target, victims, plural, recorded=True)
        await self._drain(target)

    async def _record(
        self, job: JSON, ref: ProducerRef, plural: str, listing: list[JSON], *, listed: bool, pruned: list[str]
    ) -> None:
        """Record the finish of `job` — and of every finished Job in `listing` not counted yet — in one status write,
        with the Jobs about to be deleted (`pruned`); then tell each run counted now: its Event, its event.

        Counting the whole listing is what lets `countedBefore` move past every Job that ended before the newest
        (jobs/history.py): after a restart the first Job replayed counts all the others, and they are never
        counted again, however many there are beyond `recentRuns`."""
        jobs = {j["metadata"]["name"]: j for j in listing if job_result(j) is not None}
        jobs[job["metadata"]["name"]] = job
        finished = [run for j in jobs.values() if (run := Finished.of(j)) is not None]
        counted: list[Finished] = []

        def finish(status: JSON) -> JSON:
            nonlocal counted
            updated, counted = record_finishes(status, finished, listed=listed, last_success=ref.kind == "Schedule")
            return record_pruned(updated, pruned)

        meta = job["metadata"]
        self._learn(
            plural, ref, await self._status.update(plural, meta["namespace"], ref.name, finish, linger=self._linger)
        )
        for run in counted:
            self._first_time(run.uid, str(run.result))  # its own watch event, if still to come, finds it done
            succeeded = run.result is RunResult.SUCCEEDED
            owner = _producer_of(jobs[run.name]) or ref
            await self._recorder.record(
                ObjectRef.of(owner),
                reason="JobSucceeded" if succeeded else "JobFailed",
                message=f"Job {run.name} {'succeeded' if succeeded else 'failed'} (event {run.event_id})",
                warning=not succeeded,
                at=self._clock.now(),
            )
            await self._publish(
                JOB_SUCCEEDED if succeeded else JOB_FAILED, jobs[run.name], owner, run.end or self._clock.now()
            )

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

    async def _history(self, ref: ProducerRef) -> tuple[Target | None, list[JSON] | None]:
        """The producer's current Target, and all its Jobs (None: not listed)."""
        try:
            target = await self._resolve(ref.kind, ref.namespace, ref.name)
            if target is None or not target.ref.uid:
                return None, None
            return target, await self._pipeline.jobs_of(target.ref)
        except KubeError as exc:
            # The run is recorded all the same; the limits are applied when the next Job finishes.
            log.warning("history of %s %s/%s not read: %s", ref.kind, ref.namespace, ref.name, exc)
            return None, None

    @staticmethod
    def _victims(target: Target | None, listing: list[JSON] | None) -> list[str]:
        """The finished Jobs beyond the history limits, oldest first."""
        if target is None or not listing:
            return []
        finished = [j for j in listing if job_result(j) is not None]
        return jobs_to_delete(finished, target.run.successful_limit, target.run.failed_limit)

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

    async def drain_queues(self, producers: list[tuple[str, str, str]]) -> None:
        """Start what waits in each of these (kind, namespace, name) Queues. A Queue is otherwise drained when one
        of its Jobs finishes or goes; after a takeover none may be left to do so (every Job finished and deleted
        while nobody led, by a history limit of 0 or a TTL), and the events would wait for good."""
        for kind, namespace, name in producers:
            try:
                await self._drain(await self._resolve(kind, namespace, name))
            except KubeError as exc:  # the next Job to finish drains it; a new event queues behind it meanwhile
                log.warning("queue of %s %s/%s not drained after the takeover: %s", kind, namespace, name, exc)

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


def _producer_of(job: JSON) -> ProducerRef | None:
    """The producer a Job of Jobwire's belongs to, with the Job's own labels (Automations match on them)."""
    meta = job.get("metadata") or {}
    labels = meta.get("labels") or {}
    kind, producer = labels.get(KIND_LABEL), labels.get(NAME_LABEL)
    if not kind or not producer:
        return None
    owner_uid = next((o.get("uid", "") for o in meta.get("ownerReferences") or [] if o.get("kind") == kind), "")
    return ProducerRef(kind=kind, namespace=meta.get("namespace", ""), name=producer, uid=owner_uid, labels=labels)


def pruning(job_names: list[str]) -> Callable[[JSON], JSON]:
    """A status change that remembers the deletion of `job_names` (`prunedJobs`)."""
    return lambda status: record_pruned(status, job_names)


def _new_term() -> str:
    """A leadership term's name: unique to this process and this term (no clock, no counter shared with others)."""
    return secrets.token_hex(6)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))

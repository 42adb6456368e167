"""The Schedule controller: turns ticks into events for the pipeline, and keeps the Schedule's status.

Every wake-up plans from the last tick that ran (`lastScheduleTime`, in status) to now with the pure
`plan_ticks`: in the normal case that is the one tick that is due; after downtime, an API outage or a failed
attempt it is whatever the catch-up policy says. So the same code path handles on-time ticks, restarts and
outages, and the idempotent Job name makes a tick that is tried twice create one Job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from jobwire.api.schedule import ScheduleSpec
from jobwire.events.model import TICK, Event, ProducerRef, manual_run_id, schedule_tick_id
from jobwire.jobs.pipeline import DispatchResult, Pipeline, RunSpec, Target
from jobwire.kube.api import JSON
from jobwire.kube.errors import Unavailable
from jobwire.kube.events import EventRecorder
from jobwire.kube.status import StatusWriter
from jobwire.metrics import Metrics
from jobwire.schedules import InvalidSchedule, TickPlan, TickSource, jitter_offset, plan_ticks, tick_source, upcoming
from jobwire.status.conditions import Verdict, format_time, with_verdict
from jobwire.timing.clock import Clock
from jobwire.timing.ticker import Ticker

__all__ = ["RUN_REQUESTED", "ScheduleController", "parse_time", "starts_afresh", "timing_of"]

log = logging.getLogger(__name__)

PLURAL = "schedules"
RUN_REQUESTED = "jobwire.io/run-requested-at"
RETRY_MIN = timedelta(seconds=1)
RETRY_MAX = timedelta(seconds=30)

Key = tuple[str, str]
TIMING = ("cron", "interval", "timeZone")


def timing_of(spec: Any) -> JSON:
    """What decides when ticks are due (and whether they run): kept in status as `timing`."""
    spec = spec or {}
    return {
        **{field: spec[field] for field in TIMING if spec.get(field) is not None},
        "suspend": bool(spec.get("suspend")),
    }


def starts_afresh(old: Any, new: Any) -> bool:
    """A new timing, or the end of a suspension: no tick from before the change is caught up."""
    resumed = bool(old.get("suspend")) and not new.get("suspend")
    return resumed or any(old.get(field) != new.get(field) for field in TIMING)


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass
class ScheduleState:
    """What the controller remembers of one Schedule between wake-ups (status holds the durable part)."""

    target: Target
    spec: ScheduleSpec
    ticks: TickSource
    jitter: timedelta
    created: datetime
    generation: int
    last_scheduled: datetime | None
    not_before: datetime | None
    failures: int = 0


@dataclass
class Seen:
    """The object as last synced, valid or not: what the watch must change before it is synced again."""

    uid: str
    generation: int
    timing: JSON
    run_requested: str | None


class ScheduleController:
    def __init__(
        self,
        *,
        pipeline: Pipeline,
        status: StatusWriter,
        recorder: EventRecorder,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._pipeline = pipeline
        self._status = status
        self._recorder = recorder
        self._metrics = metrics
        self._clock = clock
        self._states: dict[Key, ScheduleState] = {}
        self._seen: dict[Key, Seen] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self.ticker: Ticker[Key] = Ticker(clock, self._wake, max_in_flight=256)

    # -- from the handlers ---------------------------------------------------------------------------------------

    def is_stale(self, meta: Any) -> bool:
        """Whether the watch shows something not synced yet: a new object or generation, or a run-now value."""
        seen = self._seen.get((meta.get("namespace", ""), meta.get("name", "")))
        return (
            seen is None
            or seen.uid != meta.get("uid", "")
            or seen.generation != int(meta.get("generation") or 0)
            or seen.run_requested != (meta.get("annotations") or {}).get(RUN_REQUESTED)
        )

    async def sync(self, body: JSON) -> None:
        """Whatever changed: a spec (loaded again), a run-now annotation (one run), or an object not seen before.

        A change of timing or the end of a suspension starts afresh (no earlier tick is caught up). It is judged
        against the timing last synced here or, for an object this process has not seen yet (a restart, a new
        leader), against the timing its status says ticks were planned with."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        uid, generation = meta.get("uid", ""), int(meta.get("generation") or 0)
        requested = (meta.get("annotations") or {}).get(RUN_REQUESTED)
        status = body.get("status") or {}
        seen = self._seen.get(key)
        if seen is not None and seen.uid == uid and seen.generation == generation:
            seen.run_requested = requested
            if requested and requested != status.get("runRequestedAt") and key in self._states:
                await self.run_requested(body, requested)
            return
        timing = timing_of(body.get("spec"))
        before = seen.timing if seen is not None and seen.uid == uid else status.get("timing")
        self._seen[key] = Seen(uid=uid, generation=generation, timing=timing, run_requested=requested)
        await self._load(body, fresh_start=before is not None and starts_afresh(before, timing))

    def deactivate(self) -> None:
        """This replica no longer leads: no tick runs here any more (the next leader loads every Schedule)."""
        for key in list(self._states):
            self.forget(*key)
        self._seen.clear()

    async def _load(self, body: JSON, *, fresh_start: bool) -> None:
        """(Re)load a Schedule. `fresh_start`: its spec changed or a suspension ended, so no earlier tick runs."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        generation = int(meta.get("generation") or 0)
        status = body.get("status") or {}
        now = self._clock.now()
        try:
            spec = ScheduleSpec.model_validate(body.get("spec") or {})
            ticks = tick_source(cron=spec.cron, interval=spec.interval, time_zone=spec.time_zone)
        except (ValidationError, InvalidSchedule) as exc:
            self.forget(*key)
            message = str(exc) if isinstance(exc, InvalidSchedule) else _first_error(exc)
            await self._ready(key, generation, Verdict(False, "InvalidSchedule", message), next_times=[])
            return
        ref = ProducerRef(
            kind="Schedule", namespace=key[0], name=key[1], uid=meta.get("uid", ""), labels=meta.get("labels") or {}
        )
        run = RunSpec.of(spec)
        assert run is not None  # jobTemplate is required for Schedules
        not_before = parse_time(status.get("notBefore"))
        if fresh_start:
            not_before = max(not_before or now, now)
        state = ScheduleState(
            target=Target(ref=ref, plural=PLURAL, run=run),
            spec=spec,
            ticks=ticks,
            jitter=jitter_offset(key[0], key[1], spec.jitter_seconds),
            created=parse_time(meta.get("creationTimestamp")) or now,
            generation=generation,
            last_scheduled=_latest(
                parse_time(status.get("lastScheduleTime")), parse_time(status.get("plannedThrough"))
            ),
            not_before=not_before,
        )
        # Judged again unless this generation was already found good: a refusal, or a check cut short (a retried
        # handler), must never turn into Ready=True without a look.
        if fresh_start or status.get("observedGeneration") != generation or not _ready_true(status):
            verdict = await self._check_template(state)
            if not verdict.ok:
                self.forget(*key)
                await self._ready(key, generation, verdict, next_times=[], not_before=not_before)
                return
        self._states[key] = state
        requested = (meta.get("annotations") or {}).get(RUN_REQUESTED)
        if requested and requested != status.get("runRequestedAt"):
            await self.run_requested(body, requested)
        if spec.suspend:
            self.ticker.remove(key)
            await self._ready(
                key,
                generation,
                Verdict(True, "Suspended", "suspended: no ticks run"),
                next_times=[],
                not_before=not_before,
            )
            return
        await self._ready(
            key,
            generation,
            Verdict(True, "Scheduled", "waiting for the next tick"),
            next_times=upcoming(ticks, now, 3),
            not_before=not_before,
        )
        self.ticker.set(key, now)  # plan right away: runs whatever is due (catch-up), then arms the next tick

    def forget(self, namespace: str, name: str) -> None:
        self._states.pop((namespace, name), None)
        self.ticker.remove((namespace, name))

    def deleted(self, namespace: str, name: str) -> None:
        self.forget(namespace, name)
        self._seen.pop((namespace, name), None)

    async def run_requested(self, body: JSON, value: str) -> DispatchResult | None:
        """`jobwire.io/run-requested-at` got a new value: one run now, under the Schedule's policies."""
        meta = body["metadata"]
        state = self._states.get((meta["namespace"], meta["name"]))
        if state is None:
            return None
        now = self._clock.now()
        event = Event(
            id=manual_run_id(value),
            source=state.target.ref.source,
            type=TICK,
            time=now,
            subject=state.target.ref.name,
            data={"manual": True, "requestedAt": value},
        )
        result = await self._pipeline.dispatch(state.target, event, scheduled_time=now)
        await self._status.update(PLURAL, meta["namespace"], meta["name"], lambda s: {**s, "runRequestedAt": value})
        return result

    # -- the ticker's callback -----------------------------------------------------------------------------------

    async def _wake(self, key: Key, _: datetime) -> None:
        state = self._states.get(key)
        if state is None or state.spec.suspend:
            return
        now = self._clock.now()
        planned = now - state.jitter  # a tick is due once its jittered instant has come
        plan = self._plan(state, planned)
        log.debug(
            "schedule %s/%s at %s: due %s, %d skipped, next %s",
            *key,
            format_time(now),
            [format_time(t) for t in plan.due],
            plan.skipped_count,
            plan.next,
        )
        try:
            for tick in plan.due:
                await self._run_tick(state, tick)
            state.failures = 0
        except (TimeoutError, Unavailable) as exc:
            state.failures += 1
            delay = min(RETRY_MAX, RETRY_MIN * (2 ** min(state.failures - 1, 10)))
            log.warning(
                "schedule %s/%s: API server unavailable (%s); planning again in %ss", *key, exc, delay.total_seconds()
            )
            self.ticker.set(key, now + delay)
            return
        if plan.skipped_count:
            await self._record_skipped(state, plan, now, planned)
        if plan.next is not None:
            self.ticker.set(key, plan.next + state.jitter)

    def _plan(self, state: ScheduleState, now: datetime) -> TickPlan:
        return plan_ticks(
            state.ticks,
            last_scheduled=state.last_scheduled,
            created=state.created,
            now=now,
            catch_up=state.spec.catch_up,  # type: ignore[arg-type]
            max_runs=state.spec.max_runs or 10,
            starting_deadline=(
                timedelta(seconds=state.spec.starting_deadline_seconds)
                if state.spec.starting_deadline_seconds is not None
                else None
            ),
            not_before=state.not_before,
        )

    async def _run_tick(self, state: ScheduleState, tick: datetime) -> None:
        ref = state.target.ref
        event = Event(
            id=schedule_tick_id(tick),
            source=ref.source,
            type=TICK,
            time=tick,
            subject=ref.name,
            data={"scheduledTime": format_time(tick), "schedule": ref.name, "namespace": ref.namespace},
        )
        await self._pipeline.dispatch(state.target, event, scheduled_time=tick)
        self._metrics.schedule_lateness.observe(max(0.0, (self._clock.now() - tick - state.jitter).total_seconds()))
        state.last_scheduled = tick
        following = upcoming(state.ticks, tick, 3)

        def change(status: JSON) -> JSON:
            previous = parse_time(status.get("lastScheduleTime"))
            if previous is not None and previous >= tick:
                return status
            return {
                **status,
                "lastScheduleTime": format_time(tick),
                "nextScheduleTimes": [format_time(t) for t in following],
            }

        # The Job exists; the status write need not hold the ticker's slot (other Schedules' Jobs wait on it).
        self._background(self._status.update(PLURAL, ref.namespace, ref.name, change))

    def _background(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("schedule status write failed: %s", task.exception())

    async def _record_skipped(self, state: ScheduleState, plan: TickPlan, now: datetime, planned: datetime) -> None:
        """Skipped ticks are handled ticks: counted, told in an Event, and never planned again (`plannedThrough`)."""
        ref = state.target.ref
        newest = state.ticks.at_or_before(planned, 1)
        through = newest[0] if newest else None
        if through is not None and (state.last_scheduled is None or through > state.last_scheduled):
            state.last_scheduled = through
        for group in plan.skipped:
            message = f"{group.count} tick(s) skipped ({group.reason}), the newest: " + ", ".join(
                format_time(t) for t in group.examples
            )
            await self._recorder.record(state.target.about, reason="TicksSkipped", message=message, at=now)
            self._metrics.runs_skipped.labels("Schedule", str(group.reason)).inc(group.count)
        last = plan.skipped[-1]
        summary = f"{plan.skipped_count} tick(s) skipped; last reason {last.reason}"

        def change(status: JSON) -> JSON:
            totals = dict(status.get("totals") or {})
            totals["skipped"] = int(totals.get("skipped", 0)) + plan.skipped_count
            updated = {
                **status,
                "totals": totals,
                "lastSkip": {"time": format_time(now), "reason": str(last.reason), "message": summary},
            }
            if through is not None:
                updated["plannedThrough"] = format_time(through)
            return updated

        await self._status.update(PLURAL, ref.namespace, ref.name, change)

    # -- status ---------------------------------------------------------------------------------------------------

    async def _check_template(self, state: ScheduleState) -> Verdict:
        verdict = await self._pipeline.check_template(state.target)
        return verdict if not verdict.ok else Verdict(True, "Scheduled", "")

    async def _ready(
        self,
        key: Key,
        generation: int,
        verdict: Verdict,
        *,
        next_times: list[datetime],
        not_before: datetime | None = None,
    ) -> None:
        now = self._clock.now()
        seen = self._seen.get(key)
        timing = seen.timing if seen is not None else None

        def change(status: JSON) -> JSON:
            updated = {
                **with_verdict(status, verdict, generation=generation, now=now),
                "nextScheduleTimes": [format_time(t) for t in next_times],
            }
            if not_before is not None:
                updated["notBefore"] = format_time(not_before)
            if timing is not None:
                updated["timing"] = timing
            return updated

        await self._status.update(PLURAL, key[0], key[1], change)


def _ready_true(status: JSON) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"spec.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"

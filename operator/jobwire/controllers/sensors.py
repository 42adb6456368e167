"""The Sensor controller: one engine polls every Sensor — no task, thread or pod per Sensor.

A single Ticker holds each Sensor's next poll; at most `max_in_flight` polls run at once. A poll asks the source
what is there, keeps what is new (digests of item keys in status, and the source's cursor), turns it into events
(one per item, or batches), and sends them through the shared pipeline. A failed poll backs off exponentially and
sets `Healthy=False`; the first good poll resets both. Status says what every poll found and why nothing ran.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from pydantic import ValidationError

from jobwire.api.sensor import SensorSpec
from jobwire.events.model import SENSOR_ITEM, Event, ProducerRef
from jobwire.jobs.pipeline import DispatchResult, Pipeline, RunSpec, Target
from jobwire.kube.api import JSON, Kube
from jobwire.kube.errors import KubeError
from jobwire.kube.secrets import SecretReader
from jobwire.kube.status import StatusWriter
from jobwire.metrics import Metrics
from jobwire.schedules import jitter_offset, parse_duration
from jobwire.sensors.logic import (
    batch_event_id,
    item_event_id,
    next_delay,
    plan_batches,
    record_poll,
    remember,
    select_new,
)
from jobwire.settings import SensorSettings
from jobwire.sources.base import Item, PollContext, PollResult, Source, SourceError, http_session
from jobwire.sources.registry import make_source, source_kind
from jobwire.status.conditions import Verdict, format_time, set_condition, with_verdict
from jobwire.timing.clock import Clock
from jobwire.timing.ticker import Ticker

__all__ = ["RESET_CURSOR", "RUN_REQUESTED", "SensorController"]

log = logging.getLogger(__name__)

PLURAL = "sensors"
RUN_REQUESTED = "jobwire.io/run-requested-at"
RESET_CURSOR = "jobwire.io/reset-cursor"
Key = tuple[str, str]


@dataclass
class SensorState:
    target: Target
    spec: SensorSpec
    source: Source
    kind: str
    interval: timedelta
    generation: int
    uid: str
    run_requested: str | None
    status: JSON
    """The status as this engine last wrote it: a poll reads its cursor and seen keys here, not from the API."""
    reset_cursor: str | None
    failures: int = 0


class SensorController:
    def __init__(
        self,
        *,
        kube: Kube,
        pipeline: Pipeline,
        status: StatusWriter,
        secrets: SecretReader,
        metrics: Metrics,
        clock: Clock,
        settings: SensorSettings,
    ) -> None:
        self._quiet_linger = settings.quiet_linger_seconds
        self._quiet_rate = settings.quiet_writes_per_second
        self._kube = kube
        self._pipeline = pipeline
        self._status = status
        self._secrets = secrets
        self._metrics = metrics
        self._clock = clock
        self._states: dict[Key, SensorState] = {}
        self._writes: set[asyncio.Task[JSON | None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self.ticker: Ticker[Key] = Ticker(clock, self._poll, max_in_flight=settings.max_polls_in_flight)

    # -- from the handlers ---------------------------------------------------------------------------------------

    def is_stale(self, meta: Any) -> bool:
        state = self._states.get((meta.get("namespace", ""), meta.get("name", "")))
        annotations = meta.get("annotations") or {}
        return (
            state is None
            or state.uid != meta.get("uid")
            or state.generation != meta.get("generation")
            or state.run_requested != annotations.get(RUN_REQUESTED)
            or state.reset_cursor != annotations.get(RESET_CURSOR)
        )

    async def sync(self, body: JSON) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        generation = int(meta.get("generation") or 0)
        annotations = meta.get("annotations") or {}
        status = body.get("status") or {}
        previous = self._states.get(key)
        if previous is not None and previous.uid == meta.get("uid") and previous.generation == generation:
            await self._annotations(previous, annotations, status)
            return
        await self.forget(*key)
        try:
            spec = SensorSpec.model_validate(body.get("spec") or {})
            interval = parse_duration(spec.interval)
        except (ValidationError, ValueError) as exc:
            await self._condition(key, generation, "Ready", Verdict(False, "InvalidSpec", _first_error(exc)))
            return
        ref = ProducerRef(
            kind="Sensor", namespace=key[0], name=key[1], uid=meta.get("uid", ""), labels=meta.get("labels") or {}
        )
        run = RunSpec.of(spec)
        assert run is not None  # jobTemplate is required for Sensors
        state = SensorState(
            target=Target(ref=ref, plural=PLURAL, run=run),
            spec=spec,
            source=make_source(spec.source),
            kind=source_kind(spec.source),
            interval=interval,
            generation=generation,
            uid=ref.uid,
            run_requested=status.get("runRequestedAt"),
            reset_cursor=status.get("resetCursorAt"),
            status=dict(status),
        )
        verdict = await self._pipeline.check_template(state.target)
        if not verdict.ok:
            await state.source.close()
            await self._condition(key, generation, "Ready", verdict)
            return
        self._states[key] = state
        if not spec.suspend:
            # Spread first polls over the interval, the same offset for the same Sensor: a restart does not poll
            # every Sensor in the same second. Armed before Ready is written: Ready=True means the first poll is
            # set (from the time of taking the Sensor on), as for Automations and their windows.
            spread = jitter_offset(key[0], key[1], max(0, int(interval.total_seconds()) - 1))
            self.ticker.set(key, self._clock.now() + (spread if previous is None else timedelta(0)))
        await self._condition(
            key,
            generation,
            "Ready",
            Verdict(True, "Polling" if not spec.suspend else "Suspended", f"{state.kind} every {spec.interval}"),
        )
        await self._annotations(state, annotations, status)

    async def _annotations(self, state: SensorState, annotations: Any, status: JSON) -> None:
        key = (state.target.ref.namespace, state.target.ref.name)
        reset = annotations.get(RESET_CURSOR)
        if reset and reset != state.reset_cursor:
            state.reset_cursor = reset
            self._record(
                state,
                lambda s: {
                    **s,
                    "cursor": None,
                    "seenKeys": [],
                    "pendingItems": [],
                    "pendingSince": None,
                    "conditionState": None,
                    "resetCursorAt": reset,
                },
            )
            self.ticker.set(key, self._clock.now())
        requested = annotations.get(RUN_REQUESTED)
        if requested and requested != state.run_requested:
            state.run_requested = requested
            self._record(state, lambda s: {**s, "runRequestedAt": requested})
            self.poll_now(*key)

    def poll_now(self, namespace: str, name: str) -> bool:
        """Poll this Sensor at once (run-now, a Webhook's target); False if there is no such Sensor."""
        if (namespace, name) not in self._states:
            return False
        self.ticker.set((namespace, name), self._clock.now())
        return True

    async def forget(self, namespace: str, name: str) -> None:
        self.ticker.remove((namespace, name))
        state = self._states.pop((namespace, name), None)
        if state is not None:
            await state.source.close()

    async def deactivate(self) -> None:
        """This replica no longer leads: no poll starts here any more (one under way finishes)."""
        for key in list(self._states):
            await self.forget(*key)

    async def close(self) -> None:
        for key in list(self._states):
            await self.forget(*key)
        self._status.hurry(PLURAL)  # quiet polls' records are written now, not after their linger
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    # -- status ---------------------------------------------------------------------------------------------------

    def _record(self, state: SensorState, change: Callable[[JSON], JSON], *, linger: float = 0.0) -> None:
        """Apply `change` to the engine's copy now, and to the API's in the background (coalesced per Sensor).

        Polls that change nothing wait (`_quiet_wait`), so that a quiet Sensor costs a write every few polls, not
        one per poll; anything else (a Job fired, a failure) is written at once."""
        state.status = change(state.status)
        ref = state.target.ref
        task = asyncio.create_task(self._status.update(PLURAL, ref.namespace, ref.name, change, linger=linger))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _quiet_wait(self) -> float:
        """How long a quiet poll's record may wait: `quiet_linger`, longer when there are so many Sensors that
        their quiet writes would pass `quiet_writes_per_second` (2,000 Sensors at 40/s: 50 s) — times a random
        1 to 1.5. Without it the writes came in waves: Sensors first polled within one interval of a start
        lingered alike, wrote in the same few seconds, and did so again every linger (late polls in each wave)."""
        base = max(self._quiet_linger, len(self._states) / self._quiet_rate)
        return base * random.uniform(1.0, 1.5)  # noqa: S311 - spreading load, not a secret

    def _written(self, task: asyncio.Task[JSON | None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("sensor status write failed: %s", task.exception())

    def _http_client(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = http_session(connections=256)
        return self._http

    # -- a poll ------------------------------------------------------------------------------------------------

    async def _poll(self, key: Key, _: datetime) -> None:
        state = self._states.get(key)
        if state is None or state.spec.suspend:
            return
        ref = state.target.ref
        started, began = self._clock.now(), time.perf_counter()
        if state.status.get("outbox"):
            try:
                await self._resend_outbox(state)
            except KubeError as exc:
                await self._failed(state, started, time.perf_counter() - began, "ApiUnavailable", str(exc))
                return
        status = state.status
        context = PollContext(
            namespace=ref.namespace,
            secrets=self._secrets,
            kube=self._kube,
            timeout=float(state.spec.timeout_seconds),
            http=self._http_client(),
        )
        try:
            async with asyncio.timeout(state.spec.timeout_seconds + 1):
                result = await state.source.poll(status.get("cursor"), context)
        except (SourceError, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, SourceError) else "Timeout"
            message = exc.message if isinstance(exc, SourceError) else "the poll did not finish within timeoutSeconds"
            await self._failed(state, started, time.perf_counter() - began, reason, message)
            return
        try:
            outcome, reason, count = await self._handle(state, result, status)
        except KubeError as exc:
            await self._failed(state, started, time.perf_counter() - began, "ApiUnavailable", str(exc))
            return
        duration = time.perf_counter() - began
        self._metrics.sensor_polls.labels(state.kind, outcome).inc()
        self._metrics.sensor_poll_seconds.labels(state.kind).observe(duration)
        poll = {
            "time": format_time(started),
            "durationSeconds": round(duration, 3),
            "items": count,
            "outcome": outcome,
            **({"reason": reason} if reason else {}),
        }
        now = self._clock.now()
        self._record(
            state,
            lambda s: {
                **_healthy(record_poll(s, poll, failed=False), state.generation, now),
                "nextPollTime": format_time(started + state.interval),
            },
            linger=self._quiet_wait() if outcome == "Skipped" and state.failures == 0 else 0.0,
        )
        state.failures = 0
        self.ticker.set(key, started + state.interval)

    async def _handle(self, state: SensorState, result: PollResult, status: JSON) -> tuple[str, str, int]:
        ref = state.target.ref
        if result.condition is not None:
            was = bool(status.get("conditionState"))
            if result.condition and not was:
                now = self._clock.now()
                event = Event(
                    id=f"edge-{format_time(now)}",
                    source=ref.source,
                    type=SENSOR_ITEM,
                    time=now,
                    subject=ref.name,
                    data={"condition": True, "detail": result.detail},
                )
                written = event.to_dict()

                def edge(s: JSON) -> JSON:
                    return {**s, "conditionState": True, "outbox": [*(s.get("outbox") or []), written]}

                # Write-ahead, as for items: the edge is remembered only together with its event, so a Job that
                # could not be made yet is made by the next poll instead of being lost to "ConditionUnchanged".
                # The engine's copy changes only once the API has it: a failed write (an API outage) leaves both as
                # they were, and the next poll finds the edge again, instead of firing from a copy the API never got.
                await self._status.update(PLURAL, ref.namespace, ref.name, edge)
                state.status = edge(state.status)
                [outcome] = await self._send(state, [event])
                return _fired(outcome), _reason(outcome), 1
            self._record(state, lambda s: {**s, "conditionState": result.condition}, linger=self._quiet_wait())
            return "Skipped", "ConditionUnchanged" if result.condition else "ConditionFalse", 0
        seen = list(status.get("seenKeys") or [])
        fresh = [result.items[i] for i in select_new([item.key for item in result.items], seen)]
        pending = list(status.get("pendingItems") or [])
        batch = state.spec.batch
        events: list[tuple[Event, list[str]]] = []
        now = self._clock.now()
        if batch is None:
            for item in fresh:
                events.append((self._item_event(ref, item, now), [item.key]))
            plan_pending: list[Any] = []
            plan_since = None
        else:
            plan = plan_batches(
                pending,
                [{"key": i.key, "data": i.data} for i in fresh],
                now=now,
                pending_since=_time(status.get("pendingSince")),
                max_items=batch.max_items,
                max_wait=timedelta(seconds=batch.max_wait_seconds),
            )
            for group in plan.fire:
                keys = [g["key"] for g in group]
                events.append(
                    (
                        Event(
                            id=batch_event_id(keys),
                            source=ref.source,
                            type=SENSOR_ITEM,
                            time=now,
                            subject=ref.name,
                            data=[g["data"] for g in group],
                        ),
                        keys,
                    )
                )
            plan_pending, plan_since = list(plan.pending), plan.pending_since
        handled = [k.key for k in fresh]
        outbox = [event.to_dict() for event, _keys in events]

        def change(s: JSON) -> JSON:
            updated = {**s, "seenKeys": remember(s.get("seenKeys") or [], handled)}
            if result.cursor is not None:
                updated["cursor"] = result.cursor
            if batch is not None:
                updated["pendingItems"] = plan_pending
                updated["pendingSince"] = format_time(plan_since) if plan_since else None
            if outbox:
                updated["outbox"] = [*(s.get("outbox") or []), *outbox]
            return updated

        if events or fresh:
            # Write-ahead: the events (and the cursor past their items) are in status before any Job is made, so a
            # crash in between re-sends these very events (same ids, same Jobs) instead of re-polling into batches
            # of a different make-up, which would run some items twice. So are the items a waiting batch takes:
            # each poll's change adds its own keys only, so a key whose write failed would never reach status.
            # The engine's copy follows only once the write succeeded: after a failed one (an API outage) the next
            # poll finds these items again, rather than sending them from a copy whose seen keys status never got
            # (the next start would then take them for new).
            ref_ = state.target.ref
            await self._status.update(PLURAL, ref_.namespace, ref_.name, change)
            state.status = change(state.status)
        else:
            self._record(state, change, linger=self._quiet_wait())
        results = await self._send(state, [event for event, _keys in events])
        if not fresh and not events:
            return "Skipped", "NothingNew" if not plan_pending else "BatchWaiting", 0
        if not events:
            return "Skipped", "BatchWaiting", len(fresh)
        refused = [r for r in results if not r.accepted]
        if refused:
            return "Fired" if len(refused) < len(results) else "Skipped", refused[0].reason, len(fresh)
        return "Fired", "", len(fresh)

    async def _send(self, state: SensorState, events: list[Event]) -> list[DispatchResult]:
        """Dispatch events from the outbox; each leaves it once the pipeline has taken it (a Job, a skip...)."""
        results: list[DispatchResult] = []
        for event in events:
            results.append(await self._pipeline.dispatch(state.target, event))
        if events:
            sent = {event.id for event in events}
            self._record(
                state, lambda s: {**s, "outbox": [e for e in s.get("outbox") or [] if e.get("id") not in sent]}
            )
        return results

    async def _resend_outbox(self, state: SensorState) -> None:
        """Events written ahead by a poll that did not finish (a crash, a stop) go out before any new poll."""
        pending = [Event.from_dict(e) for e in state.status.get("outbox") or []]
        if pending:
            log.info(
                "sensor %s/%s: re-sending %d event(s) from the outbox",
                state.target.ref.namespace,
                state.target.ref.name,
                len(pending),
            )
            await self._send(state, pending)

    def _item_event(self, ref: ProducerRef, item: Item, now: datetime) -> Event:
        return Event(
            id=item_event_id(item.key), source=ref.source, type=SENSOR_ITEM, time=now, subject=item.key, data=item.data
        )

    async def _failed(self, state: SensorState, started: datetime, duration: float, reason: str, message: str) -> None:
        ref = state.target.ref
        state.failures += 1
        self._metrics.sensor_polls.labels(state.kind, "Failed").inc()
        poll = {
            "time": format_time(started),
            "durationSeconds": round(duration, 3),
            "items": 0,
            "outcome": "Failed",
            "reason": f"{reason}: {message}"[:1024],
        }
        now = self._clock.now()
        delay = next_delay(state.interval, state.failures)

        def change(s: JSON) -> JSON:
            updated = record_poll(s, poll, failed=True)
            updated["nextPollTime"] = format_time(started + delay)
            updated["conditions"] = set_condition(
                updated.get("conditions"),
                kind="Healthy",
                status="False",
                reason=reason,
                message=message[:1024],
                generation=state.generation,
                now=now,
            )
            return updated

        self._record(state, change)
        log.info(
            "sensor %s/%s poll failed (%s); next poll in %ss", ref.namespace, ref.name, reason, delay.total_seconds()
        )
        self.ticker.set((ref.namespace, ref.name), started + delay)

    async def _condition(self, key: Key, generation: int, kind: str, verdict: Verdict) -> None:
        now = self._clock.now()
        await self._status.update(
            PLURAL,
            key[0],
            key[1],
            lambda s: with_verdict(s, verdict, generation=generation, now=now, kind=kind),
        )


def _healthy(status: JSON, generation: int, now: datetime) -> JSON:
    return {
        **status,
        "conditions": set_condition(
            status.get("conditions"),
            kind="Healthy",
            status="True",
            reason="PollSucceeded",
            message="",
            generation=generation,
            now=now,
        ),
    }


def _fired(result: DispatchResult) -> str:
    return "Fired" if result.accepted else "Skipped"


def _reason(result: DispatchResult) -> str:
    return "" if result.accepted else result.reason


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"spec.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)

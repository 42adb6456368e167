"""The Automation controller: every event meets the triggers that can take it; a firing runs its actions in order.

    event (bus) ─> index (by type/source) ─> admits? (match, labels, filter, loop guard) ─> forEach key
        ─> trigger state (window, threshold, cooldown) ─> firing
    deadline (ticker) ─> absent keys ─> firing
    firing ─> written ahead to status ─> jobwire.automation.triggered ─> actions, in order ─> outcomes in status

Deciding is quick and never waits on I/O: the producer that published the event (a webhook request, a tick) does
not wait for anyone's actions. Firings of one Automation run one after another, in the order they fired.

Restarts: windows, cooldowns, deadlines and the ids of recent events are checkpointed to status at most every
`checkpoint_linger` seconds — the most a crash can lose is what arrived in that time. A firing is written to status
before its first action and leaves it after its last: one interrupted by a crash is finished at the next start
(a runJob makes no second Job — its name comes from the firing id; a notification may go out a second time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from jobwire.api.automation import Action, AutomationSpec, NotifyFormat, Posture, RunJobAction, TargetRef
from jobwire.automations.firing import Firing, Planned, plan
from jobwire.automations.matching import Matcher, MatchIndex
from jobwire.automations.rule import Rule, consider
from jobwire.automations.trigger import Fire, Observed, TriggerState
from jobwire.events.bus import EventBus
from jobwire.events.model import AUTOMATION_ACTION_FAILED, JOB_FAILED, JOB_STARTED, JOB_SUCCEEDED, Event, ProducerRef
from jobwire.jobs.history import record_skipped
from jobwire.jobs.pipeline import Pipeline, RunSpec, Target
from jobwire.kube.api import JSON, Kube, jobwire_path
from jobwire.kube.errors import KubeError, NotFound
from jobwire.kube.events import EventRecorder, ObjectRef
from jobwire.kube.secrets import MissingSecret, SecretReader
from jobwire.kube.status import StatusWriter
from jobwire.metrics import Metrics
from jobwire.settings import AutomationSettings
from jobwire.status.conditions import Verdict, format_time, with_verdict
from jobwire.timing.clock import Clock
from jobwire.timing.ticker import Ticker

__all__ = ["AutomationController", "run_spec"]

log = logging.getLogger(__name__)

JOB_EVENT_TYPES = frozenset({JOB_STARTED, JOB_SUCCEEDED, JOB_FAILED})

PLURAL = "automations"
RECENT_FIRINGS = 20
FIRED_IDS = 256
"""Ids of recent firings remembered (in the checkpoint): a firing derived again after a restart runs once."""
EVENT_IDS_SHOWN = 20
SKIPS_KEPT = 100
JOB_EVENTS = (JOB_STARTED, JOB_SUCCEEDED, JOB_FAILED)
PLURALS = {"Schedule": "schedules", "Sensor": "sensors", "Webhook": "webhooks", "Automation": "automations"}
Key = tuple[str, str]


def run_spec(spec: AutomationSpec, action: RunJobAction) -> RunSpec:
    """How a runJob action's events become Jobs: its template, the Automation's history limits and identity."""
    return RunSpec(
        template=action.job_template,
        parameters=tuple(action.parameters or ()),
        successful_limit=spec.successful_jobs_history_limit,
        failed_limit=spec.failed_jobs_history_limit,
        service_account=spec.service_account_name,
    )


@dataclass
class Loaded:
    rule: Rule
    state: TriggerState
    generation: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: OrderedDict[str, Firing] = field(default_factory=OrderedDict)
    """Firings written ahead and not finished."""
    fired_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)
    skips: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    """Skips not yet in status: (event id, reason, message, time); the next checkpoint write carries them."""

    @property
    def key(self) -> Key:
        return self.rule.ref.namespace, self.rule.ref.name


class AutomationController:
    def __init__(
        self,
        *,
        kube: Kube,
        pipeline: Pipeline,
        status: StatusWriter,
        secrets: SecretReader,
        recorder: EventRecorder,
        metrics: Metrics,
        clock: Clock,
        bus: EventBus,
        settings: AutomationSettings,
    ) -> None:
        self._kube = kube
        self._pipeline = pipeline
        self._status = status
        self._secrets = secrets
        self._recorder = recorder
        self._metrics = metrics
        self._clock = clock
        self._settings = settings
        self._loaded: dict[Key, Loaded] = {}
        self._index: MatchIndex[Key] = MatchIndex()
        self._wanted: MatchIndex[Key] = MatchIndex()
        """Every replica: what each Automation's match could take, loaded or not (see `track`)."""
        self._tracked: dict[Key, tuple[str, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dirty: OrderedDict[Key, float] = OrderedDict()
        """Automations whose state changed since it was last written, oldest change first (monotonic seconds)."""
        self._dirtied = asyncio.Event()
        self._writers = asyncio.Semaphore(16)
        self._http: httpx.AsyncClient | None = None
        self._labels: dict[tuple[str, str, str], Mapping[str, str]] = {}
        """Every replica: the current labels of each producer (kind, namespace, name), from the watch."""
        self.ticker: Ticker[Key] = Ticker(clock, self._deadline)
        bus.subscribe(self.on_event)

    def labels_seen(self, kind: str, namespace: str, name: str, labels: Mapping[str, str] | None) -> None:
        """A producer's labels as the watch shows them now (None: it was deleted). `match.labels` reads these: a
        producer's engine builds its events' ProducerRef when its spec changes, and a label-only change (no new
        generation) would otherwise not reach the Automations until then."""
        if labels is None:
            self._labels.pop((kind, namespace, name), None)
        else:
            self._labels[(kind, namespace, name)] = labels

    def __len__(self) -> int:
        """Automations loaded (valid, suspended or not)."""
        return len(self._loaded)

    def candidates(self, event: Event) -> list[Rule]:
        """The triggers the index hands `event` to (the rest are never looked at)."""
        keys = self._index.candidates(event.type, event.source)
        return [self._loaded[k].rule for k in keys if k in self._loaded]

    def rules(self) -> list[Rule]:
        return [loaded.rule for loaded in self._loaded.values()]

    # -- from the handlers ---------------------------------------------------------------------------------------

    def track(self, body: JSON) -> None:
        """On every replica, leader or not: file the Automation's match (type, source), so that a replica that
        does not lead knows whether an event its webhook receiver took may be wanted by the leader's Automations
        (it forwards only those). Cheap: the spec is read once per generation, no CEL is compiled."""
        meta = body.get("metadata") or {}
        key: Key = (meta.get("namespace", ""), meta.get("name", ""))
        mark = (meta.get("uid", ""), int(meta.get("generation") or 0))
        if self._tracked.get(key) == mark:
            return
        self._tracked[key] = mark
        try:
            spec = AutomationSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            self._wanted.remove(key)
            return
        if spec.suspend:
            self._wanted.remove(key)
            return
        match = spec.trigger.match
        self._wanted.add(
            key, Matcher.of(type=match.type, source=match.source, subject=match.subject, labels=match.labels)
        )

    def untrack(self, namespace: str, name: str) -> None:
        self._tracked.pop((namespace, name), None)
        self._wanted.remove((namespace, name))

    def may_want(self, event: Event) -> bool:
        """Whether some Automation (suspended ones aside) could take `event` — by type and source only."""
        return bool(self._wanted.candidates(event.type, event.source))

    async def deactivate(self) -> None:
        """This replica no longer leads: every Automation is dropped here — no deadline, firing or checkpoint
        starts any more (a firing under way finishes; the new leader resumes firings from status)."""
        for key in list(self._loaded):
            await self._drop(key)
        self._dirty.clear()

    def is_stale(self, meta: Mapping[str, Any]) -> bool:
        loaded = self._loaded.get((meta.get("namespace", ""), meta.get("name", "")))
        return loaded is None or loaded.rule.ref.uid != meta.get("uid") or loaded.generation != meta.get("generation")

    async def sync(self, body: JSON) -> None:
        meta = body["metadata"]
        key: Key = (meta["namespace"], meta["name"])
        generation = int(meta.get("generation") or 0)
        status = body.get("status") or {}
        previous = self._loaded.get(key)
        ref = ProducerRef(
            kind="Automation", namespace=key[0], name=key[1], uid=meta.get("uid", ""), labels=meta.get("labels") or {}
        )
        try:
            spec = AutomationSpec.model_validate(body.get("spec") or {})
            rule = Rule.of(ref, spec)
        except ValidationError as exc:
            await self._drop(key)
            await self._ready(key, generation, Verdict(False, "InvalidSpec", _first_error(exc)))
            return
        except ValueError as exc:
            await self._drop(key)
            await self._ready(key, generation, Verdict(False, "InvalidSpec", str(exc)))
            return
        for index, action in enumerate(spec.actions):
            if action.run_job is None:
                continue
            verdict = await self._pipeline.check_template(
                Target(ref=ref, plural=PLURAL, run=run_spec(spec, action.run_job))
            )
            if not verdict.ok:
                await self._drop(key)
                await self._ready(
                    key, generation, Verdict(False, verdict.reason, f"actions[{index}]: {verdict.message}")
                )
                return
        checkpoint = status.get("checkpoint") or {}
        same = previous is not None and previous.rule.ref.uid == ref.uid
        if same and previous is not None and previous.rule.spec.trigger == spec.trigger:
            state = previous.state  # an action changed: the windows go on
        else:
            state = TriggerState.restore(rule.trigger, checkpoint if not same else None)
        loaded = Loaded(rule=rule, state=state, generation=generation)
        if same and previous is not None:
            loaded.fired_ids, loaded.pending, loaded.lock = previous.fired_ids, previous.pending, previous.lock
        else:
            for firing_id in checkpoint.get("firedIds") or []:
                loaded.fired_ids[str(firing_id)] = None
            for entry in checkpoint.get("pending") or []:
                try:
                    firing = Firing.from_json(ref, entry)
                except (KeyError, TypeError, ValueError):
                    continue
                loaded.pending[firing.id] = firing
        self._loaded[key] = loaded
        if spec.suspend:
            self._index.remove(key)
            self.ticker.remove(key)
        else:
            self._index.add(key, rule.matcher)
            if rule.trigger.posture == Posture.PROACTIVE and not spec.trigger.for_each and "" not in state.keys:
                state.arm("", self._clock.now())
                self._checkpoint(loaded)  # a restart before the first event keeps this deadline
            self._arm(loaded)
            for firing in list(loaded.pending.values()):
                log.info("automation %s/%s: finishing firing %s from before a restart", *key, firing.id)
                self._start(loaded, firing, resumed=True)
        what = f"{len(spec.actions)} action(s) on {_describe(spec)}"
        await self._ready(key, generation, Verdict(True, "Suspended" if spec.suspend else "Watching", what))

    async def forget(self, namespace: str, name: str) -> None:
        await self._drop((namespace, name))

    async def close(self) -> None:
        """Finish what runs and write every state not yet written: a clean stop loses nothing."""
        await self.flush()
        if self._http is not None:
            await self._http.aclose()

    async def flush(self) -> None:
        """Write every state not yet written, and wait for what runs (a clean stop, or handing leadership over)."""
        dirty = [self._loaded[key] for key in self._dirty if key in self._loaded]
        for loaded in dirty:
            await self._writers.acquire()
            task = asyncio.create_task(self._write_checkpoint(loaded))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drop(self, key: Key) -> None:
        self._index.remove(key)
        self.ticker.remove(key)
        self._loaded.pop(key, None)

    # -- deciding ---------------------------------------------------------------------------------------------

    async def on_event(self, event: Event, producer: ProducerRef | None) -> None:
        """An Automation sees the events of its own namespace only: another namespace's events (their data, their
        Jobs) are not its business, and a notification must not carry them out."""
        if producer is None:
            return
        now = self._clock.now()
        labels = producer.labels
        if event.type not in JOB_EVENT_TYPES:  # a Job's events carry the Job's own labels, always current
            labels = self._labels.get((producer.kind, producer.namespace, producer.name), labels)
        for key in self._index.candidates(event.type, event.source):
            loaded = self._loaded.get(key)
            if loaded is not None and key[0] == producer.namespace:
                self.consider(loaded, event, labels, now)

    def consider(self, loaded: Loaded, event: Event, labels: Mapping[str, str], now: datetime) -> None:
        evicted = loaded.state.evicted
        decision = consider(loaded.rule, loaded.state, event, labels, now)
        if loaded.state.evicted > evicted:
            self._metrics.automation_keys_evicted.inc(loaded.state.evicted - evicted)
        if decision.reason in ("FilterError", "ForEachError", Observed.COOLING_DOWN):
            self._skipped(loaded, event.id, decision.reason, decision.message, now)
        if not decision.admitted:
            return
        if decision.fire is not None:
            self._fire(loaded, decision.fire)
        else:
            self._checkpoint(loaded)
        self._arm(loaded)

    async def _deadline(self, key: Key, _: datetime) -> None:
        loaded = self._loaded.get(key)
        if loaded is None or loaded.rule.spec.suspend:
            return
        for fire in loaded.state.expire(self._clock.now()):
            self._fire(loaded, fire)
        self._arm(loaded)

    def _arm(self, loaded: Loaded) -> None:
        due = loaded.state.next_deadline()
        if due is None:
            self.ticker.remove(loaded.key)
        elif self.ticker.due(loaded.key) != due:
            self.ticker.set(loaded.key, due)

    def _fire(self, loaded: Loaded, fire: Fire) -> None:
        firing = Firing.of(loaded.rule.ref, fire)
        if firing.id in loaded.fired_ids or firing.id in loaded.pending:
            return  # derived again (a replayed event after a restart): it ran, or is running
        loaded.fired_ids[firing.id] = None
        while len(loaded.fired_ids) > FIRED_IDS:
            loaded.fired_ids.popitem(last=False)
        loaded.pending[firing.id] = firing
        self._metrics.automation_firings.inc()
        self._start(loaded, firing, resumed=False)

    def _start(self, loaded: Loaded, firing: Firing, *, resumed: bool) -> None:
        task = asyncio.create_task(self._execute(loaded, firing, resumed=resumed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- acting -------------------------------------------------------------------------------------------------

    async def _execute(self, loaded: Loaded, firing: Firing, *, resumed: bool) -> None:
        ref = loaded.rule.ref
        async with loaded.lock:
            if self._loaded.get(loaded.key) is not loaded and not self._same(loaded):
                return  # deleted, or its uid changed, while waiting
            try:
                if not resumed:
                    await self._write_ahead(loaded, firing)
                    await self._pipeline.publish(ref, firing.as_event())
                    await self._recorder.record(
                        ObjectRef.of(ref),
                        reason="Triggered",
                        message=f"{firing.reason}: firing {firing.id} on {len(firing.event_ids)} event(s)",
                        at=self._clock.now(),
                    )
                outcomes = [await self._act(loaded, planned, firing) for planned in plan(loaded.rule.spec, firing)]
                loaded.pending.pop(firing.id, None)
                await self._finish(loaded, firing, outcomes)
            except KubeError as exc:
                # The firing stays pending in status (written ahead) and runs at the next start, or now on retry.
                log.warning("automation %s/%s: firing %s interrupted: %s", ref.namespace, ref.name, firing.id, exc)
                self._start_later(loaded, firing)
            except Exception:
                log.exception("automation %s/%s: firing %s failed", ref.namespace, ref.name, firing.id)
                loaded.pending.pop(firing.id, None)

    def _same(self, loaded: Loaded) -> bool:
        current = self._loaded.get(loaded.key)
        return current is not None and current.rule.ref.uid == loaded.rule.ref.uid

    def _start_later(self, loaded: Loaded, firing: Firing) -> None:
        async def later() -> None:
            await self._clock.sleep_until(self._clock.now() + timedelta(seconds=self._settings.retry_seconds))
            current = self._loaded.get(loaded.key)
            if current is not None and firing.id in current.pending:
                await self._execute(current, firing, resumed=True)

        task = asyncio.create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, loaded: Loaded, planned: Planned, firing: Firing) -> dict[str, Any]:
        started = self._clock.now()
        if planned.error is not None:
            result, message = "Failed", planned.error
        else:
            action = loaded.rule.spec.actions[planned.index]
            try:
                result, message = await self._run(loaded, action, planned, firing)
            except (ActionFailed, MissingSecret) as exc:
                result, message = "Failed", str(exc)
        if result == "Failed":
            await self._action_failed(loaded, planned, firing, message)
        return {"action": planned.name, "result": result, "message": message[:1024], "time": format_time(started)}

    async def _run(self, loaded: Loaded, action: Action, planned: Planned, firing: Firing) -> tuple[str, str]:
        ref, spec = loaded.rule.ref, loaded.rule.spec
        if action.run_job is not None:
            target = Target(ref=ref, plural=PLURAL, run=run_spec(spec, action.run_job))
            result = await self._pipeline.dispatch(target, firing.as_event(planned.values["eventId"]), publish=False)
            if result.accepted:
                return "Succeeded", f"Job {planned.values['job']} ({result.outcome})"
            return "Failed", f"{result.reason}: {result.message}"
        if action.notify is not None:
            secret = action.notify.url_secret_ref
            url = (await self._secrets.value(ref.namespace, secret.name, secret.key)).decode().strip()
            code = await self._notify(url, planned.values["body"], action.notify.timeout_seconds, action.notify.retries)
            how = "Slack-style" if action.notify.format == NotifyFormat.SLACK else "JSON"
            return "Succeeded", f"{how} notification answered {code}"
        target_ref = action.suspend or action.resume
        if target_ref is not None:
            return "Succeeded", await self._set_suspend(ref.namespace, target_ref, suspend=action.suspend is not None)
        event = Event.from_dict(planned.values["event"])
        await self._pipeline.publish(ref, event)
        return "Succeeded", f"emitted {event.type} {event.id}"

    async def _notify(self, url: str, body: dict[str, Any], per_attempt: float, retries: int) -> int:
        """POST `body`; 5xx, 429 and transport errors are retried with exponential backoff (on the clock)."""
        client = self._client()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(retries + 1),
            wait=wait_exponential(multiplier=self._settings.notify_backoff_seconds, max=60),
            retry=retry_if_exception(_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await client.post(url, json=body, timeout=per_attempt)
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _Retryable(f"the notification URL answered {response.status_code}")
                    if response.status_code >= 400:
                        raise ActionFailed(f"the notification URL answered {response.status_code}")
                    return response.status_code
        except _Retryable as exc:
            raise ActionFailed(f"{exc} after {retries + 1} attempt(s)") from None
        except httpx.HTTPError as exc:
            # The URL may hold a token: name the kind of failure, never the URL.
            raise ActionFailed(
                f"the notification failed after {retries + 1} attempt(s): {type(exc).__name__}"
            ) from None
        raise ActionFailed("the notification was not attempted")  # pragma: no cover - the loop returns or raises

    async def _sleep(self, seconds: float) -> None:
        await self._clock.sleep_until(self._clock.now() + timedelta(seconds=seconds))

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._http

    async def _set_suspend(self, namespace: str, target: TargetRef, *, suspend: bool) -> str:
        plural = PLURALS[target.kind]
        if target.name is not None:
            names = [target.name]
        else:
            selector = ",".join(f"{k}={v}" for k, v in sorted((target.selector or {}).items()))
            listing = await self._kube.get(jobwire_path(plural, namespace), {"labelSelector": selector})
            names = [item["metadata"]["name"] for item in listing.get("items", [])]
        done: list[str] = []
        for name in names:
            try:
                await self._kube.merge_patch(jobwire_path(plural, namespace, name), {"spec": {"suspend": suspend}})
            except NotFound:
                raise ActionFailed(f"{target.kind} {namespace}/{name} not found") from None
            done.append(name)
        verb = "suspended" if suspend else "resumed"
        return f"{verb} {target.kind} {', '.join(done)}" if done else f"no {target.kind} matched; nothing {verb}"

    async def _action_failed(self, loaded: Loaded, planned: Planned, firing: Firing, message: str) -> None:
        ref = loaded.rule.ref
        self._metrics.automation_action_failures.labels(planned.type).inc()
        await self._recorder.record(
            ObjectRef.of(ref),
            reason="ActionFailed",
            message=f"action {planned.name} of firing {firing.id}: {message}",
            warning=True,
            at=self._clock.now(),
        )
        failed = Event(
            id=f"{firing.id}-{planned.index}-failed",
            source=ref.source,
            type=AUTOMATION_ACTION_FAILED,
            time=self._clock.now(),
            subject=planned.name,
            data={"firing": firing.id, "action": planned.name, "type": planned.type, "message": message},
        )
        await self._pipeline.publish(ref, failed)

    # -- status -----------------------------------------------------------------------------------------------

    def _checkpoint(self, loaded: Loaded) -> None:
        """Mark the state for writing: `run_checkpoints` writes it after `checkpoint_linger`, at a bounded rate."""
        if loaded.key not in self._dirty:
            self._dirty[loaded.key] = time.monotonic()
            self._dirtied.set()

    async def run_checkpoints(self) -> None:
        """Write dirty Automations' state, oldest first, each at least `checkpoint_linger` after it changed (so one
        write carries every change since) and no more than `checkpoint_writes_per_second` writes a second over all
        of them — the API server's load stays bounded however many events arrive. Runs until cancelled."""
        linger = self._settings.checkpoint_linger_seconds
        pace = 1.0 / self._settings.checkpoint_writes_per_second
        while True:
            if not self._dirty:
                self._dirtied.clear()
                await self._dirtied.wait()
                continue
            key, since = next(iter(self._dirty.items()))
            wait = since + linger - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            del self._dirty[key]
            loaded = self._loaded.get(key)
            if loaded is not None:
                await self._writers.acquire()
                task = asyncio.create_task(self._write_checkpoint(loaded))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            await asyncio.sleep(pace)

    async def _write_checkpoint(self, loaded: Loaded) -> None:
        ref = loaded.rule.ref
        try:
            await self._status.update(PLURAL, ref.namespace, ref.name, self._with_state(loaded))
        except KubeError as exc:
            log.warning("automation %s/%s: checkpoint not written: %s", ref.namespace, ref.name, exc)
            self._checkpoint(loaded)  # try again later
        finally:
            self._writers.release()

    def _with_state(self, loaded: Loaded) -> Callable[[JSON], JSON]:
        """A status change adding the trigger state and the skips not yet written (every status write of an
        Automation carries them). Taken now; the change itself is pure, as the writer may apply it again."""
        self._dirty.pop(loaded.key, None)
        skips, loaded.skips = loaded.skips, []

        def change(status: JSON) -> JSON:
            for event_id, reason, message, at in skips:
                status = record_skipped(status, event_id=event_id, reason=reason, message=message, time=at)
            return {**status, "checkpoint": self._checkpoint_json(loaded)}

        return change

    def _checkpoint_json(self, loaded: Loaded) -> JSON:
        return {
            **loaded.state.checkpoint(),
            "firedIds": list(loaded.fired_ids),
            "pending": [f.to_json() for f in loaded.pending.values()],
        }

    async def _write_ahead(self, loaded: Loaded, firing: Firing) -> None:
        entry = {
            "id": firing.id,
            "time": format_time(firing.at),
            "reason": firing.reason,
            "key": firing.key,
            "eventIds": list(firing.event_ids[-EVENT_IDS_SHOWN:]),
            "outcomes": [],
        }

        with_state = self._with_state(loaded)

        def change(status: JSON) -> JSON:
            recent = [f for f in status.get("recentFirings") or [] if f.get("id") != firing.id]
            return with_state(
                {
                    **status,
                    "lastTriggeredTime": format_time(firing.at),
                    "triggerCount": int(status.get("triggerCount") or 0) + 1,
                    "recentFirings": [entry, *recent][:RECENT_FIRINGS],
                }
            )

        ref = loaded.rule.ref
        await self._status.update(PLURAL, ref.namespace, ref.name, change)

    async def _finish(self, loaded: Loaded, firing: Firing, outcomes: list[dict[str, Any]]) -> None:
        with_state = self._with_state(loaded)

        def change(status: JSON) -> JSON:
            recent = [
                {**f, "outcomes": outcomes} if f.get("id") == firing.id else f
                for f in status.get("recentFirings") or []
            ]
            return with_state({**status, "lastOutcomes": outcomes, "recentFirings": recent})

        ref = loaded.rule.ref
        await self._status.update(PLURAL, ref.namespace, ref.name, change)

    def _skipped(self, loaded: Loaded, event_id: str, reason: str, message: str, now: datetime) -> None:
        self._metrics.runs_skipped.labels("Automation", reason).inc()
        loaded.skips.append((event_id, reason, message, now))
        del loaded.skips[:-SKIPS_KEPT]
        self._checkpoint(loaded)

    async def _ready(self, key: Key, generation: int, verdict: Verdict) -> None:
        now = self._clock.now()
        await self._status.update(
            PLURAL,
            key[0],
            key[1],
            lambda s: with_verdict(s, verdict, generation=generation, now=now),
        )


class ActionFailed(Exception):
    """An action did not do what it says; the message tells why, without secrets."""


class _Retryable(Exception):
    pass


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable | httpx.TransportError)


def _describe(spec: AutomationSpec) -> str:
    types = spec.trigger.match.type or ["any event"]
    return ", ".join(types[:3]) + (" …" if len(types) > 3 else "")


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"spec.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"

"""Which engines this replica feeds from the watch: all of them while it leads, only the shared tables otherwise.

    every replica   Webhooks (the receiver's table), the names of Sensors (a Webhook's target), what each
                    Automation matches (whether a follower forwards an event), each producer's deleted Jobs
                    (`status.prunedJobs`, for dispatch) — from the watch, always
    the leader      Schedules, Sensors, Automations, the Job tracker; and the events followers forwarded

Taking over: the watch has long passed the objects that did not change, so the new leader lists every kind (in
the watched namespaces) and feeds each object to its engine, as a restart's first listing would. The listing and
the watch can overlap: an event older than what the engine was fed is dropped (resourceVersions compared as
numbers, as Kubernetes' own API server writes them), and one object is fed by one of them at a time.

Automations before Jobs: an event a Job's start or finish publishes reaches only the Automations loaded by then,
so the Job events the leader feeds wait until this term's Automations are loaded — at start by `preload` (a Kopf
startup handler: Kopf's watches, and the operator's readiness, come after it), on a takeover by its listing, which
loads Automations first. A restart's replay of the Jobs that finished while nobody watched is not lost on an
Automation that happened to load later.

Losing: the engines forget everything at once — no tick, poll, deadline or status write starts afterwards; a step
already under way finishes (each is idempotent: the Job names, the status written ahead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jobwire.api.kinds import AUTOMATION, SCHEDULE, SENSOR, WEBHOOK
from jobwire.controllers.automations import AutomationController
from jobwire.controllers.schedules import ScheduleController
from jobwire.controllers.sensors import SensorController
from jobwire.controllers.webhooks import WebhookController
from jobwire.jobs.tracker import Tracker
from jobwire.jobs.watch import JOB_SELECTOR
from jobwire.kube.api import JSON, Kube
from jobwire.kube.errors import KubeError
from jobwire.metrics import Metrics

__all__ = ["JOBS", "Leadership"]

log = logging.getLogger(__name__)

JOBS = "jobs"
_KIND_OF = {kind.plural: kind.kind for kind in (SCHEDULE, SENSOR, WEBHOOK, AUTOMATION)} | {JOBS: "Job"}
PAGE = 500
RELIST_SECONDS = 2.0
LOAD_CONCURRENCY = 16
"""Objects a start or a takeover loads at once: most of a load is waiting for the API server (a status read)."""
# Automations first, so that what the others publish while the new leader loads them finds them loaded.
TAKEOVER_ORDER = (AUTOMATION.plural, SCHEDULE.plural, SENSOR.plural, WEBHOOK.plural, JOBS)
Key = tuple[str, str, str]


@dataclass
class _Slot:
    lock: asyncio.Lock
    users: int = 0


class Leadership:
    def __init__(
        self,
        *,
        kube: Kube,
        namespaces: tuple[str, ...],
        schedules: ScheduleController,
        sensors: SensorController,
        webhooks: WebhookController,
        automations: AutomationController,
        tracker: Tracker,
        metrics: Metrics,
        leading: bool,
    ) -> None:
        """`leading`: True when there is no election (one replica): the watch feeds every engine from the start."""
        self._kube = kube
        self._namespaces = namespaces
        self._schedules = schedules
        self._sensors = sensors
        self._webhooks = webhooks
        self._automations = automations
        self._tracker = tracker
        self._metrics = metrics
        self._leading = leading
        self._term = 0
        """Changes with every gain and loss: work begun in an earlier term does not go on in a later one."""
        self._versions: dict[Key, int] = {}
        self._slots: dict[Key, _Slot] = {}
        self._feeding = 0
        self._fed = asyncio.Event()
        self._fed.set()
        self._automations_loaded = asyncio.Event()
        """Set once this term's Automations are loaded (by `preload` or a takeover): Job events wait for it."""
        self._takeover: asyncio.Task[None] | None = None
        self._drained: set[Key] = set()
        """Producers whose Queue this leader has drained once since it began to lead."""
        self.sensor_names: set[tuple[str, str]] = set()
        self.took_over_seconds: float | None = None
        """How long the last takeover's listing and loading took."""
        self.release: Callable[[], Awaitable[None]] | None = None
        """Gives the Lease up (set when there is an election): `resign` calls it last."""
        metrics.leader.set(1 if leading else 0)

    @property
    def leading(self) -> bool:
        return self._leading

    @property
    def holding_jobs(self) -> bool:
        """Job events wait: this term's Automations are not loaded yet."""
        return self._leading and not self._automations_loaded.is_set()

    def sensor_exists(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.sensor_names

    # -- from the watch ----------------------------------------------------------------------------------------------

    async def on_event(self, plural: str, event: Mapping[str, Any]) -> None:
        """A raw watch event of `plural` (one of the four kinds, or "jobs")."""
        obj = event.get("object")
        if not obj:
            return
        try:
            await self._handle(plural, dict(obj), deleted=event.get("type") == "DELETED", term=self._term)
        except Exception:
            # Kopf logs it; the metric lets an alert see it (docs/metrics.md).
            self._metrics.reconcile_errors.labels(_KIND_OF.get(plural, plural)).inc()
            raise

    async def _handle(self, plural: str, obj: JSON, *, deleted: bool, term: int) -> None:
        meta = obj.get("metadata") or {}
        key = (plural, meta.get("namespace", ""), meta.get("name", ""))
        if plural == JOBS:
            if not self._leading:
                return
            await self._automations_loaded.wait()
            if term != self._term:
                return  # leadership changed meanwhile: a takeover's listing feeds the Jobs again
        version = _version(meta)
        async with self._slot(key):
            known = self._versions.get(key)
            if version is not None and known is not None and version < known:
                return  # older than what was fed already (the takeover's listing was ahead of the watch)
            if deleted:
                self._versions.pop(key, None)
            elif version is not None:
                self._versions[key] = version
            self._everywhere(plural, obj, meta, deleted)
            if plural == WEBHOOK.plural:
                await self._webhook_table(obj, meta, deleted)
            if self._leading and term == self._term:
                self._feeding += 1
                self._fed.clear()
                try:
                    await self._feed(plural, obj, meta, deleted)
                finally:
                    self._feeding -= 1
                    if not self._feeding:
                        self._fed.set()

    def _everywhere(self, plural: str, obj: JSON, meta: Mapping[str, Any], deleted: bool) -> None:
        name = (meta.get("namespace", ""), meta.get("name", ""))
        if plural != JOBS:  # every replica dispatches webhooks: the Jobs deleted by history limits are duplicates
            self._tracker.producer_seen(plural, obj, deleted=deleted)
            self._automations.labels_seen(_KIND_OF[plural], *name, None if deleted else meta.get("labels") or {})
        if plural == SENSOR.plural:
            if deleted:
                self.sensor_names.discard(name)
            else:
                self.sensor_names.add(name)
        elif plural == AUTOMATION.plural:
            if deleted:
                self._automations.untrack(*name)
            else:
                self._automations.track(obj)

    async def _webhook_table(self, obj: JSON, meta: Mapping[str, Any], deleted: bool) -> None:
        if deleted:
            self._webhooks.forget(meta.get("namespace", ""), meta.get("name", ""))
        elif self._webhooks.is_stale(meta):
            await self._webhooks.sync(obj)

    async def _feed(self, plural: str, obj: JSON, meta: Mapping[str, Any], deleted: bool) -> None:
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        if plural == JOBS:
            await self._tracker.observe(obj, deleted=deleted)
        elif plural == SCHEDULE.plural:
            if deleted:
                self._schedules.deleted(namespace, name)
            elif self._schedules.is_stale(meta):
                await self._schedules.sync(obj)
        elif plural == SENSOR.plural:
            if deleted:
                await self._sensors.forget(namespace, name)
            elif self._sensors.is_stale(meta):
                await self._sensors.sync(obj)
        elif plural == AUTOMATION.plural:
            if deleted:
                await self._automations.forget(namespace, name)
            elif self._automations.is_stale(meta):
                await self._automations.sync(obj)
        elif plural == WEBHOOK.plural and not deleted:
            if not self._webhooks.reported(meta):
                await self._webhooks.sync(obj)  # its Ready condition, unwritten while nobody led
            handed = await self._webhooks.consume(obj)
            if handed:
                self._metrics.forwarded.labels("consumed").inc(handed)
        if plural != JOBS and not deleted and (obj.get("status") or {}).get("queue"):
            await self._drain_once(plural, namespace, name)

    async def _drain_once(self, plural: str, namespace: str, name: str) -> None:
        """The first time this leader sees a producer with events waiting under Queue, it starts what has a free
        slot. A Queue is otherwise drained when one of its Jobs finishes or goes: if they all did while nobody led
        (a history limit of 0, a TTL, a hand), no Job event would ever come, and the queue would wait for good."""
        key = (plural, namespace, name)
        if key in self._drained:
            return
        self._drained.add(key)
        await self._tracker.drain_queues([(_KIND_OF[plural], namespace, name)])

    @contextlib.asynccontextmanager
    async def _slot(self, key: Key) -> AsyncIterator[None]:
        """One feeder per object at a time: the watch and a takeover's listing never interleave on it."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(asyncio.Lock())
        slot.users += 1
        try:
            async with slot.lock:
                yield
        finally:
            slot.users -= 1
            if not slot.users:
                del self._slots[key]

    async def preload(self) -> int:
        """Load the Automations that exist (a Kopf startup handler: before Kopf watches anything, before ready);
        then the Job events may flow. Returns how many were loaded."""
        term = self._term
        count = await self._load(AUTOMATION.plural, term)
        if term == self._term:
            self._automations_loaded.set()
        return count

    # -- from the election -------------------------------------------------------------------------------------------

    async def start_leading(self) -> None:
        """This replica now leads: load everything (in the background: the election goes on renewing)."""
        self._term += 1
        self._drained.clear()
        self._automations_loaded.clear()  # until the takeover has loaded them
        self._leading = True
        self._metrics.leader.set(1)
        self._takeover = asyncio.create_task(self._take_over(self._term), name="jobwire-takeover")

    async def stop_leading(self) -> None:
        """This replica no longer leads: stop every engine now, and again once feeds under way have finished."""
        self._term += 1
        self._leading = False
        self._automations_loaded.set()  # the Job events waiting for it see the term changed, and drop
        self._metrics.leader.set(0)
        await self._deactivate()
        await self._fed.wait()
        await self._deactivate()
        self._versions = {k: v for k, v in self._versions.items() if k[0] != JOBS}
        if self._takeover is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._takeover
            self._takeover = None

    async def resign(self) -> None:
        """A clean stop of the leader: write what Automations hold, stop the engines, then release the Lease — a
        follower takes over at its next look instead of waiting the Lease out."""
        if self.release is None or not self._leading:
            return
        await self._automations.flush()  # still the leader: nobody else writes these
        await self.stop_leading()
        await self.release()

    async def close(self) -> None:
        if self._takeover is not None:
            self._takeover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._takeover

    async def _deactivate(self) -> None:
        self._schedules.deactivate()
        await self._sensors.deactivate()
        await self._automations.deactivate()
        self._tracker.deactivate()
        self._webhooks.deactivate()

    async def _take_over(self, term: int) -> None:
        started = time.monotonic()
        counts: dict[str, int] = {}
        for plural in TAKEOVER_ORDER:
            counts[plural] = await self._load(plural, term)
            if term != self._term:
                return
            if plural == AUTOMATION.plural:
                self._automations_loaded.set()
        self.took_over_seconds = time.monotonic() - started
        log.info(
            "took over in %.2fs: %s",
            self.took_over_seconds,
            ", ".join(f"{count} {plural}" for plural, count in counts.items()),
        )

    async def _load(self, plural: str, term: int) -> int:
        """Feed every object of `plural` to its engine, as the watch would, `LOAD_CONCURRENCY` at a time (each
        waits on the API server for its status); one that fails is logged and skipped."""
        room = asyncio.Semaphore(LOAD_CONCURRENCY)
        count = 0

        async def load_one(obj: JSON) -> None:
            try:
                await self._handle(plural, obj, deleted=False, term=term)
            except Exception:
                meta = obj.get("metadata") or {}
                log.exception("loading %s %s/%s failed", plural, meta.get("namespace"), meta.get("name"))
            finally:
                room.release()

        async with asyncio.TaskGroup() as group:
            async for obj in self._list(plural, term):
                if term != self._term:
                    break
                await room.acquire()
                group.create_task(load_one(obj))
                count += 1
        return count

    async def _list(self, plural: str, term: int) -> AsyncIterator[JSON]:
        """Every object of `plural` in the watched namespaces, page by page; API errors are retried."""
        for path in self._paths(plural):
            query = {"limit": str(PAGE)}
            if plural == JOBS:
                query["labelSelector"] = JOB_SELECTOR
            while term == self._term:
                try:
                    page = await self._kube.get(path, query)
                except KubeError as exc:
                    log.warning("taking over: could not list %s (%s); again in %ss", plural, exc, RELIST_SECONDS)
                    if exc.status == 410:
                        query.pop("continue", None)  # the listing's snapshot expired: from the start again
                    await asyncio.sleep(RELIST_SECONDS)
                    continue
                for item in page.get("items") or []:
                    yield item
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    break
                query["continue"] = token

    def _paths(self, plural: str) -> list[str]:
        base = "/apis/batch/v1" if plural == JOBS else "/apis/jobwire.io/v1alpha1"
        if not self._namespaces:
            return [f"{base}/{plural}"]
        return [f"{base}/namespaces/{namespace}/{plural}" for namespace in self._namespaces]


def _version(meta: Mapping[str, Any]) -> int | None:
    value = meta.get("resourceVersion")
    return int(value) if isinstance(value, str) and value.isdigit() else None

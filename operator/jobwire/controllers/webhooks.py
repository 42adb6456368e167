"""The Webhook controller: which path belongs to which Webhook, its secrets, its counters and its status.

The receiver asks it for a Webhook by path token; it is filled from the watch (every replica has every
Webhook), so the receiver is stateless and any replica answers any request. With several replicas only the leader
writes the Ready condition, and what a request means for Automations and Sensors (which run on the leader only)
is forwarded to it through the Webhook's status (webhooks/forwarding.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from jobwire.api.webhook import AuthType, WebhookSpec
from jobwire.events.model import Event, ProducerRef
from jobwire.jobs.pipeline import Pipeline, RunSpec, Target
from jobwire.kube.api import JSON, Kube, jobwire_path
from jobwire.kube.secrets import MissingSecret, SecretReader
from jobwire.kube.status import StatusWriter
from jobwire.status.conditions import Verdict, format_time, with_verdict
from jobwire.timing.clock import Clock
from jobwire.webhooks.auth import Secrets
from jobwire.webhooks.forwarding import ForwardRefused, appended, forward_entry, holds, without
from jobwire.webhooks.paths import webhook_path, webhook_token
from jobwire.webhooks.ratelimit import TokenBucket
from jobwire.webhooks.replay import ReplayGuard

__all__ = ["LeaderView", "WebhookController", "WebhookEntry"]

log = logging.getLogger(__name__)

PLURAL = "webhooks"
FLUSH_SECONDS = 2.0
RECHECK_ROUNDS = 5  # not-Ready Webhooks are checked again every FLUSH_SECONDS * RECHECK_ROUNDS
PRELOAD_AT_ONCE = 32
CONSUMED_IDS = 10_000
"""Forwarded entries the leader remembers handing on: one seen again before its removal lands is not handed twice."""
Key = tuple[str, str]
Publish = Callable[[Event, ProducerRef | None], Awaitable[None]]


def _always(*_: object) -> bool:
    return True


@dataclass
class LeaderView:
    """What the Webhook controller knows of leadership; the defaults are one replica, which always leads."""

    leading: Callable[[], bool] = _always
    automations_may_want: Callable[[Event], bool] = _always
    """Whether some Automation's match could take the event (a follower forwards only those)."""
    sensor_exists: Callable[[str, str], bool] = _always
    """Whether there is such a Sensor (a follower's check for spec.target; it polls on the leader)."""
    publish: Publish | None = None
    """The leader's event bus, for forwarded events (not counted again: the replica that took them did)."""
    identity: str = ""


@dataclass
class WebhookEntry:
    ref: ProducerRef
    spec: WebhookSpec
    target: Target | None
    token: str
    bucket: TokenBucket | None
    generation: int | None = None
    ready: bool = True
    body: JSON | None = None
    reported: bool = False
    """Its Ready condition was written by this replica while leading."""


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    last_event_id: str | None = None
    last_event_time: datetime | None = None


class WebhookController:
    def __init__(
        self,
        *,
        pipeline: Pipeline,
        status: StatusWriter,
        secrets: SecretReader,
        clock: Clock,
        nudge: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.nudge = nudge or (lambda _namespace, _name: False)
        """Make a Sensor poll now: (namespace, name) -> whether there is such a Sensor."""
        self._pipeline = pipeline
        self._status = status
        self._secrets = secrets
        self._clock = clock
        self._by_token: dict[str, WebhookEntry] = {}
        self._token_of: dict[Key, str] = {}
        self._tallies: dict[Key, _Tally] = {}
        self._consumed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.replay = ReplayGuard()
        self.view = LeaderView()

    # -- from the handlers ---------------------------------------------------------------------------------------

    async def sync(self, body: JSON) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        generation = int(meta.get("generation") or 0)
        uid = meta.get("uid", "")
        try:
            spec = WebhookSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            self.forget(*key)
            first = exc.errors()[0]
            message = f"spec.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
            if self.view.leading():
                await self._ready(key, generation, Verdict(False, "InvalidSpec", message), url=None)
            return
        ref = ProducerRef(
            kind="Webhook", namespace=key[0], name=key[1], uid=uid, labels=(body["metadata"].get("labels") or {})
        )
        run = RunSpec.of(spec)
        target = Target(ref=ref, plural=PLURAL, run=run) if run is not None else None
        verdict = await self._check(spec, key[0], target)
        token = webhook_token(uid)
        bucket = TokenBucket(spec.rate_limit.requests_per_second, spec.rate_limit.burst) if spec.rate_limit else None
        old = self._by_token.get(token)
        if old is not None and old.bucket is not None and bucket is not None and old.spec.rate_limit == spec.rate_limit:
            bucket = old.bucket  # keep the bucket's state across unrelated spec changes
        self.forget(*key)
        # A Webhook that is not Ready still has its path: requests get a precise error (401, 503), not a 404.
        self._by_token[token] = WebhookEntry(
            ref=ref,
            spec=spec,
            target=target,
            token=token,
            bucket=bucket,
            generation=generation,
            ready=verdict.ok,
            body=None if verdict.ok else body,
        )
        self._token_of[key] = token
        if self.view.leading():
            await self._ready(key, generation, verdict, url=webhook_path(uid))
            self._by_token[token].reported = True

    def reported(self, meta: Mapping[str, Any]) -> bool:
        """Whether this object's Ready condition was written here while leading (a new leader writes the rest)."""
        token = self._token_of.get((meta.get("namespace", ""), meta.get("name", "")))
        entry = self._by_token.get(token) if token else None
        return entry is not None and entry.reported and not self.is_stale(meta)

    def deactivate(self) -> None:
        """No longer leading: the next time this replica leads, it writes every Ready condition again."""
        for entry in self._by_token.values():
            entry.reported = False

    async def preload(self, kube: Kube, namespaces: tuple[str, ...]) -> int:
        """Load every Webhook that exists (in `namespaces`; empty: all), before the operator says it is ready.

        Kopf starts its watches only once the operator is ready, so without this a restarted operator answered 404
        ("no webhook at this path") to the paths of Webhooks it had not yet seen: a sender that takes a 404 for
        final loses its delivery. The watch then finds them loaded and does nothing more."""
        paths = [jobwire_path(PLURAL, ns) for ns in namespaces] or [f"/apis/jobwire.io/v1alpha1/{PLURAL}"]
        bodies = [item for path in paths for item in (await kube.get(path)).get("items", [])]
        gate = asyncio.Semaphore(PRELOAD_AT_ONCE)

        async def load(body: JSON) -> None:
            async with gate:
                if self.is_stale(body.get("metadata") or {}):
                    await self.sync(body)

        await asyncio.gather(*(load(body) for body in bodies))
        return len(bodies)

    def is_stale(self, meta: Mapping[str, Any]) -> bool:
        """Whether this object (uid, generation) is not yet what the table holds: new, changed, or recreated."""
        token = self._token_of.get((meta.get("namespace", ""), meta.get("name", "")))
        entry = self._by_token.get(token) if token else None
        return entry is None or entry.ref.uid != meta.get("uid") or entry.generation != meta.get("generation")

    def forget(self, namespace: str, name: str) -> None:
        token = self._token_of.pop((namespace, name), None)
        if token is not None:
            self._by_token.pop(token, None)

    # -- from the receiver ---------------------------------------------------------------------------------------

    def lookup(self, token: str) -> WebhookEntry | None:
        return self._by_token.get(token)

    async def secrets_for(self, entry: WebhookEntry, *, fresh: bool = False) -> Secrets | None:
        """The current (and previous, during rotation) secret of the Webhook's auth; MissingSecret if absent."""
        auth = entry.spec.auth
        block = auth.hmac if auth.type == AuthType.HMAC else auth.token if auth.type == AuthType.TOKEN else None
        if block is None:
            return None
        ns = entry.ref.namespace
        current = await self._secrets.value(ns, block.secret_ref.name, block.secret_ref.key, fresh=fresh)
        previous = None
        if block.previous_secret_ref is not None:
            with contextlib.suppress(MissingSecret):
                previous = await self._secrets.value(
                    ns, block.previous_secret_ref.name, block.previous_secret_ref.key, fresh=fresh
                )
        if not current:
            raise MissingSecret(f"Secret {ns}/{block.secret_ref.name} has an empty {block.secret_ref.key!r}")
        return Secrets(current=current, previous=previous or None)

    def count(
        self, entry: WebhookEntry, outcome: str, *, reason: str | None = None, event_id: str | None = None
    ) -> None:
        """Tally a request: received, accepted, duplicates, filtered, or rejected (by reason). Flushed in batches."""
        tally = self._tallies.setdefault((entry.ref.namespace, entry.ref.name), _Tally())
        tally.counts["received"] += 1
        if outcome == "rejected":
            tally.rejected[reason or "Unknown"] += 1
        else:
            tally.counts[outcome] += 1
        if event_id is not None and outcome in ("accepted", "duplicates"):
            tally.last_event_id = event_id
            tally.last_event_time = self._clock.now()

    async def flush_counters(self) -> None:
        tallies, self._tallies = self._tallies, {}
        for (namespace, name), tally in tallies.items():

            def change(status: JSON, t: _Tally = tally) -> JSON:
                counters = dict(status.get("counters") or {})
                for field_name, n in t.counts.items():
                    counters[field_name] = int(counters.get(field_name, 0)) + n
                if t.rejected:
                    rejected = dict(counters.get("rejected") or {})
                    for reason, n in t.rejected.items():
                        rejected[reason] = int(rejected.get(reason, 0)) + n
                    counters["rejected"] = rejected
                updated = {**status, "counters": counters}
                if t.last_event_id is not None and t.last_event_time is not None:
                    updated["lastEventId"] = t.last_event_id
                    updated["lastEventTime"] = format_time(t.last_event_time)
                return updated

            try:
                await self._status.update(PLURAL, namespace, name, change)
            except Exception as exc:  # the counts go back into the tally, never lost to a failed write
                log.warning("could not write counters of webhook %s/%s: %s", namespace, name, exc)
                merged = self._tallies.setdefault((namespace, name), _Tally())
                merged.counts.update(tally.counts)
                merged.rejected.update(tally.rejected)

    async def run_flusher(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush_counters()
            rounds += 1
            if rounds % RECHECK_ROUNDS == 0:
                await self.recheck_not_ready()

    async def recheck_not_ready(self) -> None:
        """Webhooks refused for something outside their spec (a Secret that did not exist) get looked at again."""
        for entry in [e for e in self._by_token.values() if not e.ready and e.body is not None]:
            assert entry.body is not None
            await self.sync(entry.body)

    # -- several replicas -------------------------------------------------------------------------------------------

    async def forward(self, entry: WebhookEntry, event: Event, *, publish: bool, nudge: str | None) -> None:
        """On a replica that does not lead: leave the event (and the Sensor to nudge) in the Webhook's status for
        the leader. Returns once it is stored; ForwardRefused when it cannot be (the list is full, the event too
        large, the Webhook gone), KubeError when the API server failed."""
        item = forward_entry(event, publish=publish, nudge=nudge, replica=self.view.identity, now=self._clock.now())
        ref = entry.ref
        written = await self._status.update(PLURAL, ref.namespace, ref.name, appended(item))
        if written is None:
            raise ForwardRefused("WebhookGone", "the webhook was deleted")
        if not holds(written, item["id"]):
            raise ForwardRefused("ForwardQueueFull", "too many requests wait for the leader; retry")
        log.debug("webhook %s/%s: event %s forwarded to the leader", ref.namespace, ref.name, event.id)

    async def consume(self, body: JSON) -> int:
        """On the leader: hand what followers forwarded to the Automations (and poll the Sensors they nudge),
        each entry once, then take the entries out of the status. Returns how many were handed on."""
        waiting = (body.get("status") or {}).get("forwarded") or []
        if not waiting:
            return 0
        meta = body["metadata"]
        ref = ProducerRef(
            kind="Webhook",
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta.get("uid", ""),
            labels=meta.get("labels") or {},
        )
        done: list[str] = []
        handed = 0
        for item in waiting:
            entry_id = str(item.get("id") or "")
            done.append(entry_id)
            mark = (ref.uid, entry_id)
            if mark in self._consumed:
                continue
            self._consumed[mark] = None
            while len(self._consumed) > CONSUMED_IDS:
                self._consumed.popitem(last=False)
            handed += 1
            sensor = item.get("nudge")
            if sensor and not self.nudge(ref.namespace, str(sensor)):
                log.info("webhook %s/%s: forwarded nudge of sensor %s: no such sensor", ref.namespace, ref.name, sensor)
            if item.get("event") is not None and self.view.publish is not None:
                try:
                    event = Event.from_dict(item["event"])
                except ValueError as exc:
                    log.warning(
                        "webhook %s/%s: forwarded event %s unreadable: %s", ref.namespace, ref.name, entry_id, exc
                    )
                    continue
                await self.view.publish(event, ref)
        await self._status.update(PLURAL, ref.namespace, ref.name, without(done))
        return handed

    # -- status ---------------------------------------------------------------------------------------------------

    async def _check(self, spec: WebhookSpec, namespace: str, target: Target | None) -> Verdict:
        auth = spec.auth
        block = auth.hmac if auth.type == AuthType.HMAC else auth.token if auth.type == AuthType.TOKEN else None
        if block is not None:
            try:
                await self._secrets.value(namespace, block.secret_ref.name, block.secret_ref.key, fresh=True)
            except MissingSecret as exc:
                return Verdict(False, "SecretNotFound", str(exc))
        if target is not None:
            return await self._pipeline.check_template(target)
        return Verdict(True, "Listening", "")

    async def _ready(self, key: Key, generation: int, verdict: Verdict, *, url: str | None) -> None:
        now = self._clock.now()
        message = verdict.message or (f"listening on {url}" if url else "")

        def change(status: JSON) -> JSON:
            shown = Verdict(verdict.ok, verdict.reason if not verdict.ok else "Listening", message)
            updated = with_verdict(status, shown, generation=generation, now=now)
            if url is not None:
                updated["url"] = url
            return updated

        await self._status.update(PLURAL, key[0], key[1], change)

"""Kubernetes Events on Jobwire's resources, for the moments a person cares about (`kubectl describe`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from jobwire.events.model import ProducerRef
from jobwire.kube.api import Kube, core_path
from jobwire.kube.errors import KubeError
from jobwire.status.conditions import format_time

__all__ = ["EventRecorder", "ObjectRef"]

log = logging.getLogger(__name__)

COMPONENT = "jobwire"
MESSAGE_LIMIT = 1024


class ObjectRef:
    """What an Event is about."""

    __slots__ = ("api_version", "kind", "name", "namespace", "uid")

    def __init__(self, api_version: str, kind: str, namespace: str, name: str, uid: str | None) -> None:
        self.api_version, self.kind, self.namespace, self.name, self.uid = api_version, kind, namespace, name, uid

    @classmethod
    def of(cls, producer: ProducerRef) -> ObjectRef:
        """The producer an Event is about."""
        return cls(producer.api_version, producer.kind, producer.namespace, producer.name, producer.uid or None)


class EventRecorder:
    """Posts Events in the background: the event -> Job path never waits for a courtesy API call.

    A busy producer does not cost an Event per Job: the first Event of a kind (object, reason, type) is posted at
    once, and those that follow within `window` seconds of it are posted together when the window has passed,
    as one Event whose `count` says how many it stands for and whose message lists theirs (as far as 1,024
    characters go). client-go's EventCorrelator folds similar Events for the same reason: every Event is an etcd
    write with a lease, and at hundreds of webhook deliveries a second they cost the API server as much as the
    Jobs themselves."""

    def __init__(self, kube: Kube, *, max_pending: int = 10_000, instance: str = "", window: float = 1.0) -> None:
        """`instance`: this replica's name, as the Events' reportingInstance (which replica acted)."""
        self._kube = kube
        self._instance = instance
        self._max_pending = max_pending
        self._window = window
        self._pending: set[asyncio.Task[None]] = set()
        self._batches: dict[_Key, _Batch] = {}
        self._posted: dict[_Key, float] = {}
        """When each kind of Event was last posted (monotonic seconds); entries older than the window go."""
        self._hurry = asyncio.Event()

    async def record(self, about: ObjectRef, *, reason: str, message: str, warning: bool = False, at: datetime) -> None:
        """Queue one Event. Failing to post is logged, never raised: an Event is a courtesy, not a state; under a
        flood beyond `max_pending` Events in flight, new ones are dropped (and logged), never memory."""
        key: _Key = (about.namespace, about.kind, about.name, reason, warning)
        waiting = self._batches.get(key)
        if waiting is not None:
            waiting.add(message, at)
            return
        if len(self._pending) >= self._max_pending:
            log.warning(
                "dropping Event %s on %s/%s: %d Events already in flight",
                reason,
                about.namespace,
                about.name,
                len(self._pending),
            )
            return
        self._batches[key] = _Batch(about, reason, warning, [message], at, at)
        task = asyncio.create_task(self._send(key))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Post what waits and wait for the Events in flight (at shutdown)."""
        self._hurry.set()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _send(self, key: _Key) -> None:
        now = time.monotonic()
        wait = self._posted.get(key, -self._window) + self._window - now
        if wait > 0 and not self._hurry.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), wait)
        batch = self._batches.pop(key)
        self._forget_older_than(time.monotonic() - self._window)
        self._posted[key] = time.monotonic()
        await self._post(
            batch.about,
            reason=batch.reason,
            message=batch.message(),
            warning=batch.warning,
            first=batch.first,
            last=batch.last,
            count=len(batch.messages) + batch.unlisted,
        )

    def _forget_older_than(self, moment: float) -> None:
        if len(self._posted) > 1000:
            self._posted = {key: when for key, when in self._posted.items() if when > moment}

    async def _post(
        self,
        about: ObjectRef,
        *,
        reason: str,
        message: str,
        warning: bool,
        first: datetime,
        last: datetime,
        count: int,
    ) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{about.name}.{secrets.token_hex(8)}", "namespace": about.namespace},
            "involvedObject": {
                "apiVersion": about.api_version,
                "kind": about.kind,
                "name": about.name,
                "namespace": about.namespace,
                **({"uid": about.uid} if about.uid else {}),
            },
            "reason": reason,
            "message": message[:MESSAGE_LIMIT],
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            **({"reportingInstance": self._instance} if self._instance else {}),
            "firstTimestamp": format_time(first),
            "lastTimestamp": format_time(last),
            "count": count,
        }
        try:
            await self._kube.create(core_path(about.namespace, "events"), body)
        except KubeError as exc:
            log.warning("could not post Event %s on %s/%s: %s", reason, about.namespace, about.name, exc)


_Key = tuple[str, str, str, str, bool]
_SEPARATOR = "; "


@dataclass
class _Batch:
    """Events of one kind waiting for their window: one posted Event stands for all of them."""

    about: ObjectRef
    reason: str
    warning: bool
    messages: list[str]
    first: datetime
    last: datetime
    unlisted: int = 0
    """How many more there were than the message has room to list."""

    def add(self, message: str, at: datetime) -> None:
        self.last = max(self.last, at)
        listed = sum(len(m) + len(_SEPARATOR) for m in self.messages)
        if self.unlisted or listed + len(message) > MESSAGE_LIMIT:
            self.unlisted += 1
        else:
            self.messages.append(message)

    def message(self) -> str:
        text = _SEPARATOR.join(self.messages)
        if not self.unlisted:
            return text
        more = f" (and {self.unlisted} more)"
        return text[: MESSAGE_LIMIT - len(more)] + more

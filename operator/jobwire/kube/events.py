"""Kubernetes Events on Jobwire's resources, for the moments a person cares about (`kubectl describe`)."""

from __future__ import annotations

import asyncio
import logging
import secrets
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
    """Posts Events in the background: the event -> Job path never waits for a courtesy API call."""

    def __init__(self, kube: Kube, *, max_pending: int = 10_000, instance: str = "") -> None:
        """`instance`: this replica's name, as the Events' reportingInstance (which replica acted)."""
        self._kube = kube
        self._instance = instance
        self._max_pending = max_pending
        self._pending: set[asyncio.Task[None]] = set()

    async def record(self, about: ObjectRef, *, reason: str, message: str, warning: bool = False, at: datetime) -> None:
        """Queue one Event. Failing to post is logged, never raised: an Event is a courtesy, not a state; under a
        flood beyond `max_pending` Events in flight, new ones are dropped (and logged), never memory."""
        if len(self._pending) >= self._max_pending:
            log.warning(
                "dropping Event %s on %s/%s: %d Events already in flight",
                reason,
                about.namespace,
                about.name,
                len(self._pending),
            )
            return
        task = asyncio.create_task(self._post(about, reason=reason, message=message, warning=warning, at=at))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for the Events in flight (at shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _post(self, about: ObjectRef, *, reason: str, message: str, warning: bool, at: datetime) -> None:
        stamp = format_time(at)
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
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self._kube.create(core_path(about.namespace, "events"), body)
        except KubeError as exc:
            log.warning("could not post Event %s on %s/%s: %s", reason, about.namespace, about.name, exc)

"""Kubernetes Events on Jobwire's resources, for the moments a person cares about (`kubectl describe`)."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

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


class EventRecorder:
    def __init__(self, kube: Kube) -> None:
        self._kube = kube

    async def record(self, about: ObjectRef, *, reason: str, message: str, warning: bool = False, at: datetime) -> None:
        """Post one Event. Failing to post is logged, never raised: an Event is a courtesy, not a state."""
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
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self._kube.create(core_path(about.namespace, "events"), body)
        except KubeError as exc:
            log.warning("could not post Event %s on %s/%s: %s", reason, about.namespace, about.name, exc)

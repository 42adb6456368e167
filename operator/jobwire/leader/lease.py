"""Leader election with a coordination.k8s.io/v1 Lease, the way client-go's leaderelection does it.

    follower  reads the Lease every `renew_seconds`; when its holder has not moved it for leaseDurationSeconds —
              measured on this replica's own monotonic clock from when it last saw the Lease change, so clocks
              need not agree — or nobody holds it, takes it over: a PUT with the resourceVersion it read, so of
              two replicas trying at once exactly one wins
    leader    renews every `renew_seconds`; when it could not renew for `lease_seconds - renew_seconds` it steps
              down, before any follower can take over; the Lease held by someone else: it steps down at once
    stop      the leader releases the Lease (no holder), so a follower takes over at its next look

Worst case from a leader's death to a follower leading: lease_seconds + renew_seconds (the follower saw the last
renewal up to one renew period late, then waits the lease out, waking exactly when it expires).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from jobwire.kube.api import JSON, Kube
from jobwire.kube.errors import AlreadyExists, Conflict, KubeError, NotFound

__all__ = ["LeaseElector", "default_identity", "lease_path", "micro_time"]

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]


def lease_path(namespace: str, name: str | None = None) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases" + (f"/{name}" if name else "")


def micro_time(moment: datetime) -> str:
    """metav1.MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    """The host name (in a Pod: the Pod's name) and a random suffix: a restarted container is a new candidate."""
    host = os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{host}_{uuid.uuid4().hex[:8]}"


class LeaseElector:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float,
        renew_seconds: float,
        on_started: Callback,
        on_stopped: Callback,
    ) -> None:
        if renew_seconds <= 0 or lease_seconds <= renew_seconds:
            raise ValueError("leader election needs 0 < renew_seconds < lease_seconds")
        self.identity = identity
        self.namespace = namespace
        self.name = name
        self._kube = kube
        self._path = lease_path(namespace, name)
        self._duration = max(1, math.ceil(lease_seconds))
        self._renew = renew_seconds
        self._deadline = lease_seconds - renew_seconds
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._leading = False
        self._renewed = 0.0
        """Monotonic time the last successful write of the Lease was sent (it landed no earlier)."""
        self._seen_version: str | None = None
        self._seen_at = 0.0
        """Monotonic time this replica first saw the Lease at `_seen_version`."""
        self._expires: float | None = None
        self._released = False

    @property
    def leading(self) -> bool:
        return self._leading

    async def run(self) -> None:
        """Elect, renew and step down, until cancelled (or released: a stopping replica never leads again)."""
        while not self._released:
            try:
                await self._round()
            except KubeError as exc:
                log.warning("leader election: the Lease %s/%s could not be read or written: %s", *self._where, exc)
            await self._step_down_if_stale()
            await asyncio.sleep(self._wait())

    async def release(self) -> None:
        """At a clean stop: give the Lease up so that a follower takes over at once, not after it expires."""
        self._released = True
        if not self._leading:
            return
        self._leading = False
        for _attempt in range(3):  # a renewal in flight may have moved it since it was read
            try:
                lease = await self._kube.get(self._path)
                spec = dict(lease.get("spec") or {})
                if spec.get("holderIdentity") != self.identity:
                    return
                spec.pop("holderIdentity", None)
                spec.update(leaseDurationSeconds=1, renewTime=micro_time(datetime.now(UTC)))
                await self._kube.replace(self._path, {**lease, "spec": spec})
                log.info("leader election: released the Lease %s/%s", *self._where)
                return
            except Conflict:
                continue
            except KubeError as exc:
                log.warning("leader election: could not release the Lease %s/%s: %s", *self._where, exc)
                return

    async def _step_down_if_stale(self) -> None:
        """Not renewed for lease - renew seconds: stop leading, a renew period before a follower may take over."""
        if self._leading and time.monotonic() - self._renewed >= self._deadline:
            await self._stop(f"the Lease was not renewed for {self._deadline:g}s")

    @property
    def _where(self) -> tuple[str, str]:
        return self.namespace, self.name

    def _wait(self) -> float:
        if self._leading or self._expires is None:
            return self._renew
        # A follower wakes when the Lease it watches would expire, not up to a renew period later.
        return max(0.05, min(self._renew, self._expires - time.monotonic() + 0.01))

    async def _round(self) -> None:
        if self._released:
            return
        started = time.monotonic()
        try:
            lease = await self._kube.get(self._path)
        except NotFound:
            await self._create(started)
            return
        version = (lease.get("metadata") or {}).get("resourceVersion")
        if version != self._seen_version:
            self._seen_version, self._seen_at = version, started
        spec: JSON = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if holder == self.identity:
            await self._write(lease, spec, started, acquired=False)
            return
        if self._leading:
            await self._stop(f"the Lease is held by {holder or 'nobody'}")
            return
        duration = float(spec.get("leaseDurationSeconds") or self._duration)
        self._expires = self._seen_at + duration
        if holder and started < self._expires:
            return
        log.info(
            "leader election: taking the Lease %s/%s over from %s", *self._where, repr(holder) if holder else "nobody"
        )
        await self._write(lease, spec, started, acquired=True)

    def _spec(self, now: datetime, **extra: Any) -> JSON:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self._duration,
            "renewTime": micro_time(now),
            **extra,
        }

    async def _create(self, started: float) -> None:
        if self._released:
            return
        now = datetime.now(UTC)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._spec(now, acquireTime=micro_time(now), leaseTransitions=0),
        }
        try:
            created = await self._kube.create(lease_path(self.namespace), body)
        except AlreadyExists:
            return  # another replica was first: the next round reads it
        self._seen_version, self._seen_at = (created.get("metadata") or {}).get("resourceVersion"), started
        self._renewed = started
        await self._start()

    async def _write(self, lease: JSON, spec: JSON, started: float, *, acquired: bool) -> None:
        if self._released:
            return
        now = datetime.now(UTC)
        if acquired:
            transitions = int(spec.get("leaseTransitions") or 0) + (1 if spec.get("holderIdentity") else 0)
            updated = self._spec(now, acquireTime=micro_time(now), leaseTransitions=transitions)
        else:
            updated = {**spec, **self._spec(now)}
        try:
            stored = await self._kube.replace(self._path, {**lease, "spec": updated})
        except Conflict:
            return  # someone wrote it since it was read: the next round looks again
        self._seen_version, self._seen_at = (stored.get("metadata") or {}).get("resourceVersion"), started
        self._renewed = started
        self._expires = None
        if not self._leading and not self._released:
            await self._start()

    async def _start(self) -> None:
        self._leading = True
        log.info("leader election: %s leads (Lease %s/%s)", self.identity, *self._where)
        await self._on_started()

    async def _stop(self, why: str) -> None:
        self._leading = False
        log.warning("leader election: %s no longer leads: %s", self.identity, why)
        await self._on_stopped()

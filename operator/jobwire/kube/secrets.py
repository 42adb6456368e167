"""Secret values for auth, read from the resource's own namespace only, cached briefly.

A cached value that fails to verify a request is read again once (`fresh=True`), so a rotated Secret takes
effect at the next request, without a restart and without a Secret watch (which would need list/watch on every
Secret in the cluster). Values never leave this module as anything but bytes handed to a verifier.

Requests that find a value missing or expired at the same moment share one read: at a busy webhook's expiry,
the requests in flight would otherwise each read the Secret again.
"""

from __future__ import annotations

import asyncio
import base64
import time

from jobwire.kube.api import Kube, core_path
from jobwire.kube.errors import NotFound

__all__ = ["MissingSecret", "SecretReader"]


class MissingSecret(Exception):
    """The Secret or its key is not there; the message names both, never a value."""


class SecretReader:
    def __init__(self, kube: Kube, *, ttl_seconds: float = 10.0, max_entries: int = 10_000) -> None:
        self._kube = kube
        self._ttl = ttl_seconds
        self._max = max_entries
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._reading: dict[tuple[str, str], asyncio.Future[dict[str, str]]] = {}

    async def value(self, namespace: str, name: str, key: str, *, fresh: bool = False) -> bytes:
        data = await self._data(namespace, name, fresh=fresh)
        if key not in data:
            raise MissingSecret(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key])

    async def _data(self, namespace: str, name: str, *, fresh: bool) -> dict[str, str]:
        key = (namespace, name)
        cached = self._cache.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(self._read(namespace, name))
            reading.add_done_callback(lambda done: self._read_done(key, done))
        # Shielded: one waiting request that is cancelled does not cancel the read the others wait for.
        return await asyncio.shield(reading)

    def _read_done(self, key: tuple[str, str], done: asyncio.Future[dict[str, str]]) -> None:
        self._reading.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here too: every waiter may have been cancelled meanwhile

    async def _read(self, namespace: str, name: str) -> dict[str, str]:
        now = time.monotonic()
        try:
            secret = await self._kube.get(core_path(namespace, "secrets", name))
        except NotFound:
            self._cache.pop((namespace, name), None)
            raise MissingSecret(f"Secret {namespace}/{name} not found") from None
        data: dict[str, str] = secret.get("data") or {}
        if len(self._cache) >= self._max:
            self._cache.pop(next(iter(self._cache)))
        self._cache[(namespace, name)] = (now, data)
        return data

    def forget(self, namespace: str, name: str) -> None:
        self._cache.pop((namespace, name), None)

"""Secret values for auth, read from the resource's own namespace only, cached briefly.

A cached value that fails to verify a request is read again once (`fresh=True`), so a rotated Secret takes
effect at the next request, without a restart and without a Secret watch (which would need list/watch on every
Secret in the cluster). Values never leave this module as anything but bytes handed to a verifier.
"""

from __future__ import annotations

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

    async def value(self, namespace: str, name: str, key: str, *, fresh: bool = False) -> bytes:
        data = await self._data(namespace, name, fresh=fresh)
        if key not in data:
            raise MissingSecret(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key])

    async def _data(self, namespace: str, name: str, *, fresh: bool) -> dict[str, str]:
        cached = self._cache.get((namespace, name))
        now = time.monotonic()
        if cached and not fresh and now - cached[0] < self._ttl:
            return cached[1]
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

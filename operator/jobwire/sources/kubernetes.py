"""Kubernetes source: objects of any kind for which a condition holds.

The kind's resource (plural, namespaced or not) is found by API discovery (`/api/v1` or `/apis/<group>/<version>`)
once per source. Each poll lists the objects (in `namespace`, default the Sensor's, or cluster-wide for cluster-scoped
kinds), filtered by `labelSelector`, in pages. Every object for which `condition` (CEL over `object`; default: every
object) holds is an item, keyed by `key` (CEL over `object`), default `<uid>:<resourceVersion>`: so an object that
changes while the condition holds is a new item, and one that does not change is not. The cursor is not used.

An item's data is the object's apiVersion, kind, metadata (without managedFields) and status; the condition and the
key see the whole object.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from jobwire.api.sensor import KubernetesSource
from jobwire.kube.api import JSON, Kube
from jobwire.kube.errors import Forbidden, KubeError, NotFound, Unavailable
from jobwire.sources.base import Item, PollContext, PollResult, SourceError, condition_value, item_key, time_limit

__all__ = ["KubernetesPoller", "Resource", "item_data"]

LIST_PAGE_SIZE = 500
"""Objects per list call: bounded pages instead of one huge answer."""


@dataclass(frozen=True)
class Resource:
    """A kind as the API serves it: the URL path segment and whether it lives in namespaces."""

    plural: str
    namespaced: bool


class KubernetesPoller:
    """Polls one KubernetesSource through the operator's own API client."""

    def __init__(self, spec: KubernetesSource, *, page_size: int = LIST_PAGE_SIZE) -> None:
        self._spec = spec
        self._page_size = page_size
        self._resource: Resource | None = None
        self._lock = asyncio.Lock()
        self._what = f"{spec.kind}.{spec.api_version}"

    async def poll(self, cursor: str | None, context: PollContext) -> PollResult:
        spec = self._spec
        async with time_limit(context.timeout, f"listing {self._what}"):
            resource = await self._discover(context.kube)
            namespace = (spec.namespace or context.namespace) if resource.namespaced else None
            objects = await self._list(context.kube, resource, namespace)
        items: list[Item] = []
        for entry in objects:
            entry.setdefault("apiVersion", spec.api_version)
            entry.setdefault("kind", spec.kind)
            if spec.condition is not None and not condition_value(spec.condition, {"object": entry}):
                continue
            items.append(Item(key=self._key(entry), data=item_data(entry)))
        where = f" in {namespace}" if namespace else ""
        return PollResult(items=tuple(items), detail=f"{len(objects)} {self._what}{where}, {len(items)} matching")

    async def close(self) -> None:
        return None

    def _key(self, entry: JSON) -> str:
        if self._spec.key is not None:
            return item_key(self._spec.key, {"object": entry})
        metadata = entry.get("metadata") or {}
        return f"{metadata.get('uid', '')}:{metadata.get('resourceVersion', '')}"

    async def _discover(self, kube: Kube) -> Resource:
        async with self._lock:
            if self._resource is None:
                self._resource = await self._find_resource(kube)
            return self._resource

    async def _find_resource(self, kube: Kube) -> Resource:
        spec = self._spec
        path = "/api/v1" if spec.api_version == "v1" else f"/apis/{spec.api_version}"
        try:
            document = await kube.get(path)
        except NotFound:
            raise SourceError("UnknownKind", f"the API server serves no {spec.api_version}") from None
        except KubeError as exc:
            raise _kube_error(exc, f"discovering {spec.api_version}") from None
        for resource in document.get("resources") or ():
            if resource.get("kind") == spec.kind and "/" not in str(resource.get("name", "")):
                return Resource(plural=str(resource["name"]), namespaced=bool(resource.get("namespaced")))
        raise SourceError("UnknownKind", f"{spec.api_version} has no kind {spec.kind}")

    async def _list(self, kube: Kube, resource: Resource, namespace: str | None) -> list[JSON]:
        spec = self._spec
        base = "/api/v1" if spec.api_version == "v1" else f"/apis/{spec.api_version}"
        path = f"{base}/namespaces/{namespace}/{resource.plural}" if namespace else f"{base}/{resource.plural}"
        query = {"limit": str(self._page_size)}
        if spec.label_selector:
            query["labelSelector"] = spec.label_selector
        objects: list[JSON] = []
        while True:
            try:
                page = await kube.get(path, query)
            except NotFound:
                self._resource = None  # the kind may have gone (a CRD deleted): discover again next time
                raise SourceError("UnknownKind", f"the API server no longer serves {self._what}") from None
            except KubeError as exc:
                raise _kube_error(exc, f"listing {self._what}") from None
            objects += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return objects
            query["continue"] = token


def item_data(entry: JSON) -> dict[str, Any]:
    """What an item carries: apiVersion, kind, metadata without managedFields, and status."""
    metadata = {name: value for name, value in (entry.get("metadata") or {}).items() if name != "managedFields"}
    data: dict[str, Any] = {"apiVersion": entry.get("apiVersion"), "kind": entry.get("kind"), "metadata": metadata}
    if "status" in entry:
        data["status"] = entry["status"]
    return data


def _kube_error(exc: KubeError, doing: str) -> SourceError:
    if isinstance(exc, Forbidden):
        return SourceError("Forbidden", f"{doing}: {exc}")
    if isinstance(exc, Unavailable):
        return SourceError("Unreachable", f"{doing}: {exc}")
    return SourceError("BadStatus", f"{doing}: {exc}")

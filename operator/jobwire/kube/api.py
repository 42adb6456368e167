"""Plain JSON calls to the API server through kubernetes_asyncio's ApiClient (auth, TLS, pooling),
without its model classes: the operator works on the same dicts the API server stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from jobwire.kube.errors import translate

__all__ = ["JSON", "METADATA_ONLY", "Kube", "core_path", "jobs_path", "jobwire_path"]

JSON = dict[str, Any]

METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
"""An Accept header that asks the API server for the object's metadata alone (any verb): it encodes and sends
less, and the operator decodes less, when the metadata is all a caller reads."""


class Kube:
    def __init__(self, api: client.ApiClient, *, request_timeout: float = 30.0) -> None:
        self.api = api
        self._timeout = request_timeout
        self._time_limits = aiohttp.ClientTimeout(total=request_timeout)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> JSON:
        try:
            response = await self._send(method, path, body, query, content_type, headers, self._time_limits)
            # The answer is read here, not by the client: it would decode it with the json module, the largest
            # single cost of the operator under load (a Job comes back as 3 kB); orjson reads it in a fraction.
            data = await _read(response)
            result = orjson.loads(data) if data else None
        except Exception as exc:
            raise translate(exc) from exc
        return result if isinstance(result, dict) else {}

    async def watch(self, path: str, query: dict[str, str], *, read_timeout: float) -> AsyncIterator[JSON]:
        """The events of a watch (`?watch=true` is added), decoded, until the API server ends the stream.
        `read_timeout`: at most that long without a byte (ask the server to end sooner, with timeoutSeconds).
        Lines are split here, not by aiohttp, whose line reader refuses lines over 128 kB (a Job can be larger)."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout, sock_read=read_timeout)
        try:
            response = await self._send(
                "GET", path, None, {**query, "watch": "true"}, "application/json", None, timeout
            )
        except Exception as exc:
            raise translate(exc) from exc
        try:
            pending = bytearray()
            while True:
                try:
                    chunk = await response.content.readany()
                except Exception as exc:
                    raise translate(exc) from exc
                if not chunk:
                    return
                pending += chunk
                end = pending.rfind(b"\n")
                if end < 0:
                    continue
                lines = bytes(pending[:end])
                del pending[: end + 1]
                for line in lines.split(b"\n"):
                    if line.strip():
                        event = orjson.loads(line)
                        if isinstance(event, dict):
                            yield event
        finally:
            response.release()

    async def _send(
        self,
        method: str,
        path: str,
        body: Any,
        query: dict[str, str] | None,
        content_type: str,
        headers: dict[str, str] | None,
        time_limits: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        api = self.api
        # kubernetes_asyncio's call_api walks every body through sanitize_for_serialization (for its model
        # classes), and its REST client then encodes it with the json module: together the largest cost of
        # creating a Job (benchmarks/RESULTS.md). Our bodies are plain JSON dicts already, so the request goes to
        # the REST client's aiohttp session (its TLS context and connection pool) directly, encoded by orjson, with
        # the headers, credentials, proxy and TLS server name call_api and the REST client would add.
        header_params = {
            "Accept": "application/json",
            "Content-Type": content_type,
            **(headers or {}),
            **api.default_headers,
        }
        query_params = list((query or {}).items())
        await api.update_params_for_auth(header_params, query_params, ["BearerToken"])  # appends to both
        rest = api.rest_client
        url = (api.configuration.host or "") + path
        if query_params:
            url += "?" + urlencode(query_params)
        extra: dict[str, Any] = {}
        if rest.proxy:
            extra["proxy"] = rest.proxy
            extra["proxy_headers"] = rest.proxy_headers
        if rest.server_hostname:
            extra["server_hostname"] = rest.server_hostname
        response: aiohttp.ClientResponse = await rest.pool_manager.request(
            method,
            url,
            headers=header_params,
            data=None if body is None else orjson.dumps(body),
            timeout=time_limits,
            **extra,
        )
        if not 200 <= response.status <= 299:
            refused = ApiException(status=response.status, reason=response.reason)
            refused.body = await _read(response)
            raise refused
        return response

    async def get(self, path: str, query: dict[str, str] | None = None) -> JSON:
        return await self.request("GET", path, query=query)

    async def create(
        self,
        path: str,
        body: JSON,
        *,
        dry_run: bool = False,
        as_user: str | None = None,
        metadata_only: bool = False,
    ) -> JSON:
        """`as_user`: make the call with that user's permissions (impersonation), not the operator's own.
        `metadata_only`: the answer is the created object's `metadata` alone (a PartialObjectMetadata)."""
        headers = _impersonating(as_user) or {}
        if metadata_only:
            headers["Accept"] = METADATA_ONLY
        return await self.request(
            "POST", path, body=body, query={"dryRun": "All"} if dry_run else None, headers=headers or None
        )

    async def replace(self, path: str, body: JSON) -> JSON:
        return await self.request("PUT", path, body=body)

    async def merge_patch(self, path: str, body: JSON) -> JSON:
        return await self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    async def delete(self, path: str, *, propagation: str = "Background", as_user: str | None = None) -> JSON:
        return await self.request(
            "DELETE", path, body={"propagationPolicy": propagation}, headers=_impersonating(as_user)
        )


async def _read(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    finally:
        response.release()


def _impersonating(user: str | None) -> dict[str, str] | None:
    # For a ServiceAccount user, the API server adds its groups (system:serviceaccounts[:NS]) by itself.
    return {"Impersonate-User": user} if user else None


def jobwire_path(plural: str, namespace: str, name: str | None = None, *, subresource: str | None = None) -> str:
    path = f"/apis/jobwire.io/v1alpha1/namespaces/{namespace}/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


def jobs_path(namespace: str, name: str | None = None) -> str:
    return f"/apis/batch/v1/namespaces/{namespace}/jobs" + (f"/{name}" if name else "")


def core_path(namespace: str, plural: str, name: str | None = None) -> str:
    return f"/api/v1/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")

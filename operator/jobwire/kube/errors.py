"""Errors from the API server, translated once, here, into what the operator acts on.

KubeError
├── NotFound          404
├── AlreadyExists     409, reason AlreadyExists (for idempotent creation: success)
├── Conflict          409, any other reason (a stale resourceVersion: read again and retry)
├── Forbidden         403 (RBAC or impersonation: a condition, not a retry loop)
├── Invalid           400/422 (the server's message names the field)
└── Unavailable       5xx, 429, timeouts, connection errors (retry with backoff; webhooks answer 503)
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

__all__ = ["AlreadyExists", "Conflict", "Forbidden", "Invalid", "KubeError", "NotFound", "Unavailable", "translate"]


class KubeError(Exception):
    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(KubeError): ...


class AlreadyExists(KubeError): ...


class Conflict(KubeError): ...


class Forbidden(KubeError): ...


class Invalid(KubeError): ...


class Unavailable(KubeError): ...


def _status_body(exc: ApiException) -> tuple[str, str | None]:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return str(exc.reason or exc.status), None
    return str(body.get("message") or exc.reason or exc.status), body.get("reason")


def translate(exc: BaseException) -> KubeError:
    """The KubeError for a client exception; unknown ones become Unavailable (retryable), never silent."""
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        message, reason = _status_body(exc)
        status = exc.status
        kinds: dict[int, type[KubeError]] = {404: NotFound, 403: Forbidden, 400: Invalid, 422: Invalid}
        if status == 409:
            return (AlreadyExists if reason == "AlreadyExists" else Conflict)(message, status=status, reason=reason)
        if status in kinds:
            return kinds[status](message, status=status, reason=reason)
        return Unavailable(message, status=status, reason=reason)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return Unavailable(f"API server unreachable: {type(exc).__name__}: {exc}")
    return Unavailable(f"unexpected client error: {type(exc).__name__}: {exc}")

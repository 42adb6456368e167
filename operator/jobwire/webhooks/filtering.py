"""The Webhook's CEL filter: its variables, and a verdict that never raises.

Variables: `body` (the event's data), `headers` (lower-case names; credentials, cookies and `Authorization` are
left out, since expressions and their errors end up in status and logs) and `event` (the structured CloudEvent).

A filter that fails on a request (a missing key, a type error) does not match it: the sender gets "filtered", and
the caller counts and logs the reason from `evaluate_filter(...).error` (or `filter_error`). A result that is not a
bool does not match either: `"filter must return a bool, got int"`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobwire.api.webhook import WebhookAuth
from jobwire.cel import CelError, evaluate
from jobwire.events.model import Event
from jobwire.webhooks.auth import auth_header_names
from jobwire.webhooks.headers import lowercase_headers

__all__ = [
    "ALWAYS_HIDDEN_HEADERS",
    "FilterOutcome",
    "evaluate_filter",
    "filter_context",
    "filter_error",
    "passes_filter",
]

ALWAYS_HIDDEN_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})
"""Credentials of some other layer (a proxy, a browser session): never a filter's business."""

_CEL_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "int",
    float: "double",
    bytes: "bytes",
    list: "list",
    dict: "map",
    type(None): "null",
    datetime: "timestamp",
    timedelta: "duration",
}


@dataclass(frozen=True)
class FilterOutcome:
    """Whether the request matched; `error` says why a filter could not decide (then `matched` is False)."""

    matched: bool
    error: str | None = None


def filter_context(event: Event, headers: Mapping[str, str], body_data: Any, auth: WebhookAuth) -> dict[str, Any]:
    """The filter's variables: `body`, `headers` without credentials, and `event` in its structured form."""
    hidden = auth_header_names(auth) | ALWAYS_HIDDEN_HEADERS
    visible = {name: value for name, value in lowercase_headers(headers).items() if name not in hidden}
    return {"body": body_data, "headers": visible, "event": event.to_dict()}


def evaluate_filter(expression: str | None, context: dict[str, Any]) -> FilterOutcome:
    """The verdict of `expression` over `context`, evaluated once: no expression matches everything."""
    if expression is None:
        return FilterOutcome(matched=True)
    try:
        result = evaluate(expression, context)
    except CelError as exc:
        return FilterOutcome(matched=False, error=str(exc))
    if isinstance(result, bool):
        return FilterOutcome(matched=result)
    return FilterOutcome(matched=False, error=f"filter must return a bool, got {_cel_type_name(result)}")


def passes_filter(expression: str | None, context: dict[str, Any]) -> bool:
    """True when the request matches; a filter that fails or returns a non-bool does not match."""
    return evaluate_filter(expression, context).matched


def filter_error(expression: str | None, context: dict[str, Any]) -> str | None:
    """Why the filter could not decide on this request (one line, no variable values), or None."""
    return evaluate_filter(expression, context).error


def _cel_type_name(value: Any) -> str:
    for python_type, name in _CEL_TYPE_NAMES.items():
        if isinstance(value, python_type):
            return name
    return type(value).__name__

"""The pure half of the Webhook kind: from an HTTP request (headers, raw body, the time) to an event, no I/O.

- `auth`: `verify` a request's HMAC signature (generic, GitHub, Stripe, Slack) or token; `auth_header_names`.
- `replay`: `ReplayGuard`, the bounded memory of signed requests already accepted (Stripe, Slack).
- `ratelimit`: `TokenBucket` per Webhook, and `retry_after` for the 429's header.
- `intake`: `build_event` (plain webhooks and CloudEvents), and the CEL filter's context and verdict.
- `binding`: CloudEvents structured and binary mode through the CloudEvents SDK.
- `payload`: a body as event data by its media type.
- `errors`: `AuthFailure` (401) and `IntakeError` (400/415), one safe line each.

The receiver (sockets, Secrets, metrics, Jobs) lives elsewhere and calls, per request:
rate limit → `verify` → `build_event` → `passes_filter` → dispatch.
"""

from __future__ import annotations

from jobwire.webhooks.auth import DEFAULT_GENERIC_HEADER, Secrets, auth_header_names, verify
from jobwire.webhooks.errors import AuthFailure, AuthReason, IntakeError, IntakeReason
from jobwire.webhooks.headers import lowercase_headers
from jobwire.webhooks.intake import (
    FilterOutcome,
    build_event,
    delivery_event_id,
    evaluate_filter,
    filter_context,
    filter_error,
    passes_filter,
)
from jobwire.webhooks.ratelimit import TokenBucket, retry_after
from jobwire.webhooks.replay import ReplayGuard

__all__ = [
    "DEFAULT_GENERIC_HEADER",
    "AuthFailure",
    "AuthReason",
    "FilterOutcome",
    "IntakeError",
    "IntakeReason",
    "ReplayGuard",
    "Secrets",
    "TokenBucket",
    "auth_header_names",
    "build_event",
    "delivery_event_id",
    "evaluate_filter",
    "filter_context",
    "filter_error",
    "lowercase_headers",
    "passes_filter",
    "retry_after",
    "verify",
]

"""From an authenticated request to the one Event it stands for — or an `IntakeError` (400/415) saying why not.

Which reading applies, by the request's headers:

1. `Content-Type: application/cloudevents-batch+json` → 415: one event per request.
2. `Content-Type: application/cloudevents+json` → a structured CloudEvent (`binding.structured_event`); any other
   `application/cloudevents+<format>` → 415.
3. a `ce-specversion` header → a binary-mode CloudEvent (`binding.binary_event`).
4. otherwise a plain webhook: type = `spec.eventType`, source = the Webhook's API path, time = `received_at`, data
   from the body by its media type (`payload.decode_body`), and an id that is the same on every retry:
   - the first header of `spec.idHeaders` present and non-blank, as `delivery-<value>`. A value that is longer
     than 191 characters or has characters outside `A-Z a-z 0-9 . _ : @ + = ~ -` is shortened and cleaned, and
     gets `-<16 hex of its SHA-256>` appended, so two different delivery ids never become one event id;
   - otherwise `sha256-<hex SHA-256 of the body>`: a retried identical body is the same event. The flip side:
     identical bodies sent on purpose (a bodiless "run now" ping) are one event too — such senders should send an
     `Idempotency-Key` or `X-Request-Id`.

The filter helpers (`filter_context`, `passes_filter`, `filter_error`, `evaluate_filter`) live in `filtering` and
are exported here too: they are the second half of the intake.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from jobwire.api.webhook import WebhookSpec
from jobwire.events.model import Event, ProducerRef
from jobwire.webhooks.binding import BATCH_MEDIA_TYPE, STRUCTURED_MEDIA_TYPE, binary_event, structured_event
from jobwire.webhooks.errors import IntakeError
from jobwire.webhooks.filtering import (
    FilterOutcome,
    evaluate_filter,
    filter_context,
    filter_error,
    passes_filter,
)
from jobwire.webhooks.headers import lowercase_headers
from jobwire.webhooks.payload import decode_body, media_type

__all__ = [
    "BODY_HASH_PREFIX",
    "DELIVERY_PREFIX",
    "MAX_DELIVERY_ID_LENGTH",
    "FilterOutcome",
    "IntakeError",
    "build_event",
    "delivery_event_id",
    "evaluate_filter",
    "filter_context",
    "filter_error",
    "passes_filter",
]

DELIVERY_PREFIX = "delivery-"
BODY_HASH_PREFIX = "sha256-"
MAX_DELIVERY_ID_LENGTH = 200
"""Of the whole event id, prefix included."""

_CLEAN = re.compile(r"[A-Za-z0-9._:@+=~-]+")
_UNCLEAN_RUN = re.compile(r"[^A-Za-z0-9._:@+=~-]+")
_DIGEST_SUFFIX = 16


def build_event(
    *,
    ref: ProducerRef,
    spec: WebhookSpec,
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    received_at: datetime,
) -> Event:
    """The event of one authenticated request. `headers` may be any mapping (compared without case); `body` is the
    raw body; `received_at` is aware. `method` is not part of the event: the receiver checks it against
    `spec.methods` before calling this. Raises only `IntakeError` for anything the request contains."""
    del method  # the same body by POST or PUT is the same delivery
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    lowered = lowercase_headers(headers)
    media = media_type(lowered.get("content-type"))
    if media == BATCH_MEDIA_TYPE:
        raise IntakeError(415, "UnsupportedMediaType", "CloudEvents batch mode is not supported: send one event")
    if media == STRUCTURED_MEDIA_TYPE:
        return structured_event(body, received_at)
    if media.startswith("application/cloudevents"):
        raise IntakeError(415, "UnsupportedMediaType", "structured CloudEvents are read in JSON format only")
    if "ce-specversion" in lowered:
        return binary_event(lowered, body, received_at)
    data, datacontenttype = decode_body(media, body)
    return Event(
        id=_plain_event_id(spec.id_headers, lowered, body),
        source=ref.source,
        type=spec.event_type,
        time=received_at,
        subject=None,
        data=data,
        datacontenttype=datacontenttype,
    )


def delivery_event_id(value: str) -> str:
    """`delivery-<value>` when the value is short and clean; else a cleaned prefix of it and a digest of all of it,
    at most `MAX_DELIVERY_ID_LENGTH` characters either way."""
    room = MAX_DELIVERY_ID_LENGTH - len(DELIVERY_PREFIX)
    if len(value) <= room and _CLEAN.fullmatch(value):
        return DELIVERY_PREFIX + value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_SUFFIX]
    readable = _UNCLEAN_RUN.sub("-", value)[: room - _DIGEST_SUFFIX - 1].strip("-")
    return f"{DELIVERY_PREFIX}{readable}-{digest}" if readable else f"{DELIVERY_PREFIX}{digest}"


def _plain_event_id(id_headers: Sequence[str], headers: Mapping[str, str], body: bytes) -> str:
    for name in id_headers:
        value = headers.get(name.lower(), "").strip()
        if value:
            return delivery_event_id(value)
    return BODY_HASH_PREFIX + hashlib.sha256(body).hexdigest()

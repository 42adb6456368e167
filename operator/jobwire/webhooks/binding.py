"""CloudEvents over HTTP, structured and binary mode, read with the CloudEvents SDK (v2 `cloudevents.core`).

`cloudevents.core.bindings.http.from_structured` and `from_binary`, with `JSONFormat`, parse the request; the
event factory passed to them is our own, because the SDK's v1 `CloudEvent` fills a missing `id` with a random
UUID and a missing `time` with the clock: a random id would make every retry of the same event a new Job, and the
clock is the caller's. The factory refuses a missing specversion/id/source/type, naming it, accepts specversion
1.0 only (the Event model is 1.0), and takes a missing `time` from `received_at`. The SDK then validates types.

Binary mode: the SDK reads the attributes from the ce-* headers (percent-decoding, time, validation); the body is
decoded here by its content type (`payload.decode_body`, keeping unknown types as bytes), because the SDK's
data reader turns malformed JSON, and any bytes that happen to be UTF-8, into a str.

Attributes are taken as they are, with three guards for what comes after (Job env vars, annotations, status):
no control characters or unpaired surrogates in id/source/type/subject, and an id of at most 512 characters.
Extension attributes are validated by the SDK and then dropped: the Event model has none.

Every failure of the SDK becomes one `IntakeError(400, "MalformedCloudEvent")` at this boundary; its message
names the attribute when one is to blame and never quotes a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import unquote

from cloudevents.core.base import BaseCloudEvent, EventFactory
from cloudevents.core.bindings.http import HTTPMessage, from_binary, from_structured
from cloudevents.core.exceptions import (
    CloudEventValidationError,
    CustomExtensionAttributeError,
    InvalidAttributeTypeError,
    MissingRequiredAttributeError,
)
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.spec import SPECVERSION_V1_0
from cloudevents.core.v1.event import CloudEvent

from jobwire.events.model import Event, parse_rfc3339
from jobwire.webhooks.errors import IntakeError
from jobwire.webhooks.payload import decode_body, json_problem, media_type

__all__ = ["BATCH_MEDIA_TYPE", "MAX_ID_LENGTH", "STRUCTURED_MEDIA_TYPE", "binary_event", "structured_event"]

STRUCTURED_MEDIA_TYPE = JSONFormat.CONTENT_TYPE  # application/cloudevents+json
BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"
MAX_ID_LENGTH = 512
"""Ids are hashed into Job names, but also stored verbatim in annotations, env vars and status."""

_FORMAT = JSONFormat()
_REQUIRED = ("specversion", "id", "source", "type")
_TEXT_ATTRIBUTES = ("id", "source", "type", "subject")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHOWN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_SDK_FAILURES = (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError)
"""What the SDK raises on bad input besides its own errors: JSON and UTF-8 errors, a non-object body
(`list.get`), times that dateutil cannot read, bad base64."""


class _Refused(Exception):
    """Raised by our factory inside the SDK's call; becomes the 400's message."""


def structured_event(body: bytes, received_at: datetime) -> Event:
    """The event of a structured-mode request (`application/cloudevents+json`)."""
    try:
        parsed = from_structured(HTTPMessage(headers={}, body=body), _FORMAT, _factory(received_at))
    except _Refused as exc:
        _malformed(str(exc))
    except CloudEventValidationError as exc:
        _malformed(_validation_message(exc))
    except RecursionError:
        _malformed("the body is nested too deeply")
    except _SDK_FAILURES:
        _malformed(_diagnose_structured(body))
    data = parsed.get_data()
    problem = json_problem(data, body)
    if problem is not None:
        _malformed(f"CloudEvent data cannot be used: {problem}")
    return _to_event(parsed, received_at, data, default_content_type="application/json")


def binary_event(headers: Mapping[str, str], body: bytes, received_at: datetime) -> Event:
    """The event of a binary-mode request (attributes in ce-* headers); `headers` has lower-case names."""
    attribute_headers = {name: value for name, value in headers.items() if name.startswith("ce-")}
    content_type = headers.get("content-type", "").strip()
    if content_type:
        attribute_headers["content-type"] = content_type
    try:
        parsed = from_binary(HTTPMessage(headers=attribute_headers, body=b""), _FORMAT, _factory(received_at))
    except _Refused as exc:
        _malformed(str(exc))
    except CloudEventValidationError as exc:
        _malformed(_validation_message(exc))
    except _SDK_FAILURES:
        _malformed(_diagnose(_header_attributes(attribute_headers)))
    data, default_content_type = decode_body(media_type(content_type), body, opaque_as_bytes=True)
    return _to_event(parsed, received_at, data, default_content_type=default_content_type)


def _factory(received_at: datetime) -> EventFactory:
    def make(attributes: dict[str, Any], data: dict[str, Any] | str | bytes | None) -> BaseCloudEvent:
        for name in _REQUIRED:
            if name not in attributes:
                raise _Refused(f"CloudEvent attribute {name} is missing")
        if attributes["specversion"] != SPECVERSION_V1_0:
            raise _Refused(f"CloudEvent attribute specversion must be {SPECVERSION_V1_0}")
        attributes.setdefault("time", received_at)
        return CloudEvent(attributes, data)

    return make


def _to_event(parsed: BaseCloudEvent, received_at: datetime, data: Any, *, default_content_type: str) -> Event:
    attributes = parsed.get_attributes()
    for name in _TEXT_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and (_CONTROL.search(value) or not _utf8_encodable(value)):
            _malformed(f"CloudEvent attribute {name} holds control characters or unpaired surrogates")
    if len(parsed.get_id()) > MAX_ID_LENGTH:
        _malformed(f"CloudEvent attribute id is longer than {MAX_ID_LENGTH} characters")
    try:
        time = (parsed.get_time() or received_at).astimezone(UTC)
    except (OverflowError, ValueError):
        _malformed("CloudEvent attribute time is out of range once converted to UTC")
    try:
        return Event(
            id=parsed.get_id(),
            source=parsed.get_source(),
            type=parsed.get_type(),
            time=time,
            subject=parsed.get_subject(),
            data=data,
            datacontenttype=parsed.get_datacontenttype() or default_content_type,
        )
    except ValueError as exc:  # the model's own checks, should the SDK ever let something through
        _malformed(str(exc))


def _validation_message(exc: CloudEventValidationError) -> str:
    name, errors = next(iter(exc.errors.items()))
    shown = name if _SHOWN_NAME.fullmatch(name) else "(unreadable name)"
    first = errors[0] if errors else None
    if isinstance(first, CustomExtensionAttributeError):
        return f"CloudEvent extension attribute name {shown} is invalid (lower-case letters and digits only)"
    if isinstance(first, MissingRequiredAttributeError):
        return f"CloudEvent attribute {shown} is missing"
    if isinstance(first, InvalidAttributeTypeError):
        return f"CloudEvent attribute {shown} has the wrong type"
    if name == "time":
        return "CloudEvent attribute time has no time zone"
    return f"CloudEvent attribute {shown} must not be empty"


def _diagnose_structured(body: bytes) -> str:
    """Why the SDK could not read a structured event: runs on the error path only, so it may parse again."""
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return "the body is not valid UTF-8"
    except RecursionError:
        return "the body is nested too deeply"
    except ValueError:
        return "the body is not valid JSON"
    if not isinstance(document, dict):
        return "a structured CloudEvent must be a JSON object"
    return _diagnose(document)


def _header_attributes(headers: Mapping[str, str]) -> dict[str, Any]:
    return {name[3:]: unquote(value) for name, value in headers.items() if name.startswith("ce-")}


def _diagnose(attributes: Mapping[str, Any]) -> str:
    if "time" in attributes:
        time = attributes["time"]
        if not isinstance(time, str):
            return "CloudEvent attribute time must be an RFC 3339 string"
        try:
            parse_rfc3339(time)
        except ValueError:
            return "CloudEvent attribute time is not an RFC 3339 timestamp"
    encoded = attributes.get("data_base64")
    if encoded is not None and attributes.get("data") is None:
        if not isinstance(encoded, str):
            return "CloudEvent attribute data_base64 must be a string"
        try:
            base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return "CloudEvent attribute data_base64 is not valid base64"
    return "the request is not a valid CloudEvent"


def _utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _malformed(message: str) -> NoReturn:
    raise IntakeError(400, "MalformedCloudEvent", message) from None

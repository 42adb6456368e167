"""A request body as event data, by its media type: JSON, form, text — or refused.

The data must survive the rest of the pipeline: it becomes JSON in the Job's env, in status and in CEL. So JSON
that Python reads but nothing else writes back (NaN, Infinity, numbers beyond float range, unpaired surrogate
escapes such as "\\ud800") is refused here with a 400 rather than failing later where the sender cannot see it.

| media type                                   | data                                                     |
|----------------------------------------------|----------------------------------------------------------|
| application/json, */*+json                   | the JSON value (malformed → 400 MalformedBody)           |
| application/x-www-form-urlencoded            | {name: value}, a list of values when a name repeats      |
| text/*                                       | str (UTF-8; anything else → 400)                         |
| none                                         | JSON if it parses, else UTF-8 text, else 400             |
| anything else                                | 415 (plain webhooks), bytes (CloudEvents binary mode)    |
| (empty body, any type)                       | None                                                     |

Form values stay strings: Slack's interactive requests carry a `payload` field holding JSON, and it is left as
that string (a filter can still test `body.payload.contains(...)`); the body is what the sender sent, not a guess.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from jobwire.webhooks.errors import IntakeError

__all__ = ["FORM", "JSON", "decode_body", "is_json_media_type", "json_problem", "media_type"]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain"

_NEEDS_WALK = re.compile(rb"NaN|Infinity|\\u[dD][89a-fA-F]|[eE][+-]?[0-9]{3}|[0-9]{300}")
"""Raw text that can parse into a value `json_problem` refuses; bodies without it skip the walk."""


def media_type(content_type: str | None) -> str:
    """`type/subtype` in lower case, without parameters; "" when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media_type(media: str) -> bool:
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


def decode_body(media: str, body: bytes, *, opaque_as_bytes: bool = False) -> tuple[Any, str]:
    """(data, datacontenttype) for `body` sent as `media` (from `media_type`). Other media types are refused with
    415 unless `opaque_as_bytes`, which keeps them as bytes (a CloudEvent says what its data is)."""
    if not body:
        return None, JSON
    if not media:
        return _undeclared(body, opaque_as_bytes)
    if is_json_media_type(media):
        return _json(body), media
    if media == FORM:
        return _form(body), JSON  # the data is now a JSON object
    if media.startswith("text/"):
        return _text(body, media), media
    if opaque_as_bytes:
        return body, media
    raise IntakeError(
        415, "UnsupportedMediaType", f"content type {_shown(media)} is not JSON, form or text; see the Webhook docs"
    )


def json_problem(value: Any, raw: bytes | None = None) -> str | None:
    """What in a parsed JSON value cannot be written back as JSON, or None. With `raw` (the text it came from), a
    value whose text cannot hold such a thing is passed without walking it."""
    if raw is not None and not _NEEDS_WALK.search(raw):
        return None
    stack = [value]
    while stack:  # iterative: JSON nested a thousand deep must not exhaust the Python stack
        item = stack.pop()
        if isinstance(item, str):
            if not _utf8_encodable(item):
                return "it holds an unpaired surrogate escape (\\ud800-\\udfff)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "it holds NaN, Infinity or a number beyond the range of a double"
        elif isinstance(item, dict):
            for key, member in item.items():
                stack.append(key)
                stack.append(member)
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _json(body: bytes) -> Any:
    text = _utf8(body, "JSON")
    try:
        value = json.loads(text)
    except RecursionError:
        raise IntakeError(400, "MalformedBody", "the JSON body is nested too deeply") from None
    except ValueError:  # JSONDecodeError, and ints longer than Python reads
        raise IntakeError(400, "MalformedBody", "the body is not valid JSON") from None
    problem = json_problem(value, body)
    if problem is not None:
        raise IntakeError(400, "MalformedBody", f"the JSON body cannot be used: {problem}")
    return value


def _form(body: bytes) -> dict[str, str | list[str]]:
    text = _utf8(body, "form")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise IntakeError(400, "MalformedBody", "the form body has a percent-escape that is not UTF-8") from None
    out: dict[str, str | list[str]] = {}
    for name, value in pairs:
        existing = out.get(name)
        if existing is None:
            out[name] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            out[name] = [existing, value]
    return out


def _text(body: bytes, media: str) -> str:
    return _utf8(body, _shown(media))


def _undeclared(body: bytes, opaque_as_bytes: bool) -> tuple[Any, str]:
    try:
        return _json(body), JSON
    except IntakeError:
        pass
    try:
        return body.decode("utf-8"), TEXT
    except UnicodeDecodeError:
        if opaque_as_bytes:
            return body, OCTET_STREAM
    raise IntakeError(400, "MalformedBody", "the body has no content type and is neither JSON nor UTF-8 text")


def _utf8(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError(400, "MalformedBody", f"the {what} body is not valid UTF-8") from None


def _utf8_encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SAFE_TOKEN = re.compile(r"[a-z0-9!#$&^_.+/-]{1,80}")


def _shown(media: str) -> str:
    """A media type as it may appear in a message: only token characters, short."""
    return media if _SAFE_TOKEN.fullmatch(media) else "(unreadable)"

"""CloudEvents requests, written by the CloudEvents SDK itself (`to_structured` / `to_binary` of
`cloudevents.core.bindings.http`), read back by `build_event` with the same attributes and data; malformed ones
are 400s that name the attribute; batch mode is 415."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from jobwire.api.webhook import WebhookSpec
from jobwire.events.model import Event, ProducerRef
from jobwire.webhooks.intake import IntakeError, build_event

REF = ProducerRef(kind="Webhook", namespace="team-a", name="events", uid="uid-1")
SPEC = WebhookSpec.model_validate({"auth": {"type": "none"}, "target": {"sensor": "poller"}})
RECEIVED = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
SENT = datetime(2026, 3, 29, 0, 59, 30, 250000, tzinfo=UTC)
FORMAT = JSONFormat()


def read(message: HTTPMessage) -> Event:
    return read_raw(message.headers, message.body)


def read_raw(headers: dict[str, str], body: bytes) -> Event:
    return build_event(ref=REF, spec=SPEC, method="POST", headers=headers, body=body, received_at=RECEIVED)


def refusal(headers: dict[str, str], body: bytes) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        read_raw(headers, body)
    return caught.value


def cloud_event(data: Any = None, **attributes: Any) -> CloudEvent:
    base: dict[str, Any] = {
        "id": "A234-1234-1234",
        "source": "https://github.com/cloudevents/spec/pull",
        "type": "com.github.pull_request.opened",
        "time": SENT,
    }
    return CloudEvent({**base, **attributes}, data)


CASES = [
    pytest.param(
        cloud_event({"pr": 123, "labels": ["a"]}), {"pr": 123, "labels": ["a"]}, "application/json", id="json"
    ),
    pytest.param(
        cloud_event({"k": "v"}, subject="123", datacontenttype="application/json"),
        {"k": "v"},
        "application/json",
        id="json-with-subject",
    ),
    pytest.param(
        cloud_event({"k": 1}, datacontenttype="application/vnd.example+json"),
        {"k": 1},
        "application/vnd.example+json",
        id="json-suffix",
    ),
    pytest.param(cloud_event("hello", datacontenttype="text/plain"), "hello", "text/plain", id="text"),
    pytest.param(cloud_event(None), None, "application/json", id="no-data"),
    pytest.param(
        cloud_event({"x": 1}, comexampleextension1="value", datacontenttype="application/json"),
        {"x": 1},
        "application/json",
        id="extension-dropped",
    ),
]


@pytest.mark.parametrize(("sent", "data", "datacontenttype"), CASES)
@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_sdk_written_requests_read_back_with_the_same_attributes_and_data(
    sent: CloudEvent, data: Any, datacontenttype: str, mode: str
) -> None:
    message = to_structured(sent, FORMAT) if mode == "structured" else to_binary(sent, FORMAT)
    got = read(message)
    assert got == Event(
        id=sent.get_id(),
        source=sent.get_source(),
        type=sent.get_type(),
        time=SENT,
        subject=sent.get_subject(),
        data=data,
        datacontenttype=datacontenttype,
    )


def test_binary_data_structured_travels_as_data_base64() -> None:
    sent = cloud_event(b"\x89PNG\r\n", datacontenttype="image/png")
    got = read(to_structured(sent, FORMAT))
    assert (got.data, got.datacontenttype) == (b"\x89PNG\r\n", "image/png")
    assert got.to_dict()["data_base64"] == "iVBORw0K"


@pytest.mark.parametrize("payload", [b"\x89PNG\r\n\x00", b"utf-8 bytes are still bytes"])
def test_binary_mode_keeps_opaque_data_as_bytes(payload: bytes) -> None:
    """The SDK's own data reader would turn UTF-8 bytes into a str; the content type says bytes."""
    got = read(to_binary(cloud_event(payload, datacontenttype="application/octet-stream"), FORMAT))
    assert (got.data, got.datacontenttype) == (payload, "application/octet-stream")


def test_binary_mode_without_content_type_reads_json_then_text_then_bytes() -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}
    assert read_raw(headers, b'{"a":1}').data == {"a": 1}
    assert (read_raw(headers, b"words").data, read_raw(headers, b"words").datacontenttype) == ("words", "text/plain")
    raw = read_raw(headers, b"\xff\x00")
    assert (raw.data, raw.datacontenttype) == (b"\xff\x00", "application/octet-stream")


def test_binary_mode_header_names_and_percent_encoding() -> None:
    headers = {
        "CE-SpecVersion": "1.0",
        "Ce-Id": "id%20with%20spaces",
        "ce-source": "/s",
        "ce-type": "t",
        "ce-subject": "caf%C3%A9",
        "Content-Type": "application/json; charset=utf-8",
    }
    got = read_raw(headers, b"[1]")
    assert (got.id, got.subject, got.data) == ("id with spaces", "café", [1])
    assert got.datacontenttype == "application/json; charset=utf-8"


def test_time_defaults_to_received_at_and_is_never_read_from_the_clock() -> None:
    body = json.dumps({"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}).encode()
    assert read_raw({"Content-Type": "application/cloudevents+json"}, body).time == RECEIVED
    assert read_raw({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}, b"").time == RECEIVED


def test_times_with_offsets_become_utc() -> None:
    offset = timezone(timedelta(hours=2))
    got = read(to_structured(cloud_event({"a": 1}, time=datetime(2026, 3, 29, 3, 0, tzinfo=offset)), FORMAT))
    assert got.time == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert got.time.tzinfo is UTC


def test_the_ce_id_is_kept_as_is_not_replaced_by_the_spec_id_headers() -> None:
    message = to_binary(cloud_event({"a": 1}), FORMAT)
    got = read_raw({**message.headers, "X-GitHub-Delivery": "other"}, message.body)
    assert got.id == "A234-1234-1234"


# ---- malformed -----------------------------------------------------------------------------------------------------

STRUCTURED = {"Content-Type": "application/cloudevents+json"}
VALID = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}


def structured(**changes: Any) -> bytes:
    document = {**VALID, **changes}
    return json.dumps({key: value for key, value in document.items() if value is not ...}).encode()


@pytest.mark.parametrize("missing", ["specversion", "id", "source", "type"])
def test_structured_missing_required_attribute_is_named(missing: str) -> None:
    caught = refusal(STRUCTURED, structured(**{missing: ...}))
    assert (caught.status, caught.reason) == (400, "MalformedCloudEvent")
    assert caught.message == f"CloudEvent attribute {missing} is missing"


@pytest.mark.parametrize("missing", ["id", "source", "type"])
def test_binary_missing_required_attribute_is_named(missing: str) -> None:
    headers = {f"ce-{name}": value for name, value in VALID.items() if name != missing}
    caught = refusal(headers, b"{}")
    assert (caught.status, caught.reason, caught.message) == (
        400,
        "MalformedCloudEvent",
        f"CloudEvent attribute {missing} is missing",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (structured(specversion="0.3"), "CloudEvent attribute specversion must be 1.0"),
        (structured(id=""), "CloudEvent attribute id must not be empty"),
        (structured(id=5), "CloudEvent attribute id has the wrong type"),
        (structured(subject=7), "CloudEvent attribute subject has the wrong type"),
        (structured(time=5), "CloudEvent attribute time must be an RFC 3339 string"),
        (structured(time="yesterday"), "CloudEvent attribute time is not an RFC 3339 timestamp"),
        (structured(time="2026-03-29T01:00:00"), "CloudEvent attribute time has no time zone"),
        (structured(time="0001-01-01T00:00:00+01:00"), "CloudEvent attribute time is out of range once converted"),
        (structured(Ext=1), "CloudEvent extension attribute name Ext is invalid"),
        (structured(id="x" * 513), "CloudEvent attribute id is longer than 512 characters"),
        (structured(id="a\nb"), "CloudEvent attribute id holds control characters"),
        (structured(type="\ud800"), "CloudEvent attribute type holds control characters or unpaired surrogates"),
        (structured(data=float("nan")), "CloudEvent data cannot be used: it holds NaN"),
        (b"[1, 2]", "a structured CloudEvent must be a JSON object"),
        (b'{"id": ', "the body is not valid JSON"),
        (b"\xff", "the body is not valid UTF-8"),
        (b"", "the body is not valid JSON"),
        (b"[" * 50_000 + b"]" * 50_000, "the body is nested too deeply"),
    ],
)
def test_structured_malformed_is_400_with_a_safe_message(body: bytes, message: str) -> None:
    caught = refusal(STRUCTURED, body)
    assert (caught.status, caught.reason) == (400, "MalformedCloudEvent")
    assert caught.message.startswith(message)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ce-time": "yesterday"}, "CloudEvent attribute time is not an RFC 3339 timestamp"),
        ({"ce-specversion": "0.3"}, "CloudEvent attribute specversion must be 1.0"),
        ({"ce-": "x"}, "CloudEvent extension attribute name (unreadable name) is invalid"),
        ({"Content-Type": "application/json"}, None),
    ],
)
def test_binary_malformed_is_400(changes: dict[str, str], message: str | None) -> None:
    headers = {**{f"ce-{name}": value for name, value in VALID.items()}, **changes}
    if message is None:
        caught = refusal(headers, b'{"broken":')
        assert (caught.reason, caught.message) == ("MalformedBody", "the body is not valid JSON")
        return
    caught = refusal(headers, b"{}")
    assert (caught.status, caught.reason) == (400, "MalformedCloudEvent")
    assert caught.message.startswith(message)


def test_messages_never_quote_attribute_values() -> None:
    caught = refusal(STRUCTURED, structured(time="secret-looking-value"))
    assert "secret-looking-value" not in caught.message


@pytest.mark.parametrize(
    "content_type",
    ["application/cloudevents-batch+json", "application/cloudevents-batch+json; charset=utf-8"],
)
def test_batch_mode_is_415(content_type: str) -> None:
    caught = refusal({"Content-Type": content_type}, b"[" + structured() + b"]")
    assert (caught.status, caught.reason) == (415, "UnsupportedMediaType")
    assert caught.message == "CloudEvents batch mode is not supported: send one event"


def test_structured_mode_in_another_format_is_415() -> None:
    caught = refusal({"Content-Type": "application/cloudevents+xml"}, b"<event/>")
    assert (caught.status, caught.reason) == (415, "UnsupportedMediaType")


def test_ce_headers_without_specversion_are_a_plain_webhook() -> None:
    got = read_raw({"ce-id": "abc", "Content-Type": "application/json"}, b"{}")
    assert (got.id, got.type) == ("delivery-abc", SPEC.event_type)

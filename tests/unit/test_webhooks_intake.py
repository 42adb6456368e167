"""Plain webhooks to events: stable ids (delivery id or body hash), data by media type, 400/415 refusals, and a
property: whatever the request, the answer is an event that serialises, or an IntakeError."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as outcome
from hypothesis import strategies as st
from multidict import CIMultiDict

from jobwire.api.webhook import WebhookSpec
from jobwire.events.model import WEBHOOK_RECEIVED, Event, ProducerRef
from jobwire.webhooks.intake import (
    MAX_DELIVERY_ID_LENGTH,
    IntakeError,
    build_event,
    delivery_event_id,
)

REF = ProducerRef(kind="Webhook", namespace="team-a", name="github-push", uid="0f9c-uid")
T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def spec(**fields: Any) -> WebhookSpec:
    return WebhookSpec.model_validate({"auth": {"type": "none"}, "target": {"sensor": "poller"}, **fields})


SPEC = spec()


def event(headers: Any = None, body: bytes = b"", *, webhook: WebhookSpec = SPEC, method: str = "POST") -> Event:
    return build_event(ref=REF, spec=webhook, method=method, headers=headers or {}, body=body, received_at=T0)


def event_or_refusal(headers: dict[str, str], body: bytes) -> Event | IntakeError:
    try:
        return event(headers, body)
    except IntakeError as caught:
        return caught


def refusal(headers: dict[str, str], body: bytes) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        event(headers, body)
    return caught.value


JSON = {"Content-Type": "application/json"}


def test_a_plain_request_becomes_a_webhook_event() -> None:
    got = event({**JSON, "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}, b'{"ref":"refs/heads/main"}')
    assert got == Event(
        id="delivery-72d3162e-cc78-11e3-81ab-4c9367dc0958",
        source="/apis/jobwire.io/v1alpha1/namespaces/team-a/webhooks/github-push",
        type=WEBHOOK_RECEIVED,
        time=T0,
        subject=None,
        data={"ref": "refs/heads/main"},
        datacontenttype="application/json",
    )


def test_the_event_type_comes_from_the_spec() -> None:
    assert event(JSON, b"{}", webhook=spec(eventType="com.example.push")).type == "com.example.push"


# ---- ids -----------------------------------------------------------------------------------------------------------


def test_id_header_lookup_is_case_insensitive_and_follows_the_spec_order() -> None:
    headers = {"x-request-id": "req-1", "IDEMPOTENCY-KEY": "idem-1"}
    assert event(headers).id == "delivery-idem-1"  # Idempotency-Key comes before X-Request-Id
    assert event(CIMultiDict(headers)).id == "delivery-idem-1"
    assert event(headers, webhook=spec(idHeaders=["X-Request-Id"])).id == "delivery-req-1"


def test_blank_id_headers_are_skipped() -> None:
    assert event({"X-GitHub-Delivery": "   ", "X-Request-Id": "r-2"}).id == "delivery-r-2"


def test_without_an_id_header_the_id_is_the_body_hash_so_a_retry_is_the_same_event() -> None:
    body = b'{"ref":"refs/heads/main"}'
    first = event(JSON, body)
    assert first.id == "sha256-090ba1b9ca860d37bb4ca7492549a8a347caac3490f763399e6498622c9b47f9"
    assert event({"content-type": "application/json", "User-Agent": "retry"}, body).id == first.id
    assert event(JSON, body + b" ").id != first.id


def test_the_method_is_not_part_of_the_event() -> None:
    assert event(JSON, b"{}", method="PUT") == event(JSON, b"{}", method="POST")


@pytest.mark.parametrize(
    "value",
    [
        "a/b",
        "a b",
        "ключ",
        "x" * 500,
        "a\udcffb",
        "///",
        "-" * 10 + "/" + "x" * 300,
    ],
)
def test_delivery_ids_are_cleaned_bounded_and_stay_distinct(value: str) -> None:
    got = delivery_event_id(value)
    assert got.startswith("delivery-")
    assert len(got) <= MAX_DELIVERY_ID_LENGTH
    assert got.isascii()
    assert got == delivery_event_id(value)


def test_clean_delivery_ids_are_kept_verbatim() -> None:
    assert delivery_event_id("evt_1N2b:3@x+y=z~.-") == "delivery-evt_1N2b:3@x+y=z~.-"
    assert delivery_event_id("x" * 191) == "delivery-" + "x" * 191


@given(st.text(min_size=1, max_size=400), st.text(min_size=1, max_size=400))
def test_different_delivery_ids_never_share_an_event_id(a: str, b: str) -> None:
    if a != b:
        assert delivery_event_id(a) != delivery_event_id(b)
    assert len(delivery_event_id(a)) <= MAX_DELIVERY_ID_LENGTH


# ---- data by media type --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "data", "datacontenttype"),
    [
        ("application/json", b'{"a":[1,2.5,null,true]}', {"a": [1, 2.5, None, True]}, "application/json"),
        ("Application/JSON; charset=utf-8", b"[1]", [1], "application/json"),
        ("application/vnd.github+json", b'"text"', "text", "application/vnd.github+json"),
        ("application/json", b'{"emoji":"\\ud83d\\ude00"}', {"emoji": "\U0001f600"}, "application/json"),
        ("application/x-www-form-urlencoded", b"a=1&b=&c=x+y%21", {"a": "1", "b": "", "c": "x y!"}, "application/json"),
        ("application/x-www-form-urlencoded", b"tag=a&tag=b&tag=c&one=1", {"tag": ["a", "b", "c"], "one": "1"}, None),
        ("text/plain", "héllo\n".encode(), "héllo\n", "text/plain"),
        ("text/csv; charset=utf-8", b"a,b\n1,2\n", "a,b\n1,2\n", "text/csv"),
        ("", b'{"a":1}', {"a": 1}, "application/json"),
        (None, b"plain words", "plain words", "text/plain"),
        (None, b"NaN", "NaN", "text/plain"),
        ("application/json", b"", None, "application/json"),
        ("image/png", b"", None, "application/json"),
        (None, b"", None, "application/json"),
    ],
)
def test_data_by_media_type(content_type: str | None, body: bytes, data: Any, datacontenttype: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    got = event(headers, body)
    assert got.data == data
    if datacontenttype is not None:
        assert got.datacontenttype == datacontenttype
    got.to_json().encode("utf-8")  # it serialises, as the Job's env will need


def test_slack_form_payload_stays_a_string() -> None:
    payload = json.dumps({"type": "block_actions", "actions": [{"value": "deploy"}]})
    body = "payload=" + payload.replace(" ", "+").replace('"', "%22").replace("{", "%7B").replace("}", "%7D")
    got = event({"Content-Type": "application/x-www-form-urlencoded"}, body.encode())
    assert got.data == {"payload": payload}


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b'{"a":', "the body is not valid JSON"),
        ("application/json", b"\xff", "the JSON body is not valid UTF-8"),
        ("application/json", b"[" * 100_000 + b"]" * 100_000, "the JSON body is nested too deeply"),
        ("application/json", b"1" * 5000, "the body is not valid JSON"),
        ("application/json", b'{"x":NaN}', "the JSON body cannot be used: it holds NaN, Infinity or a number"),
        ("application/json", b"[1e400]", "the JSON body cannot be used: it holds NaN, Infinity or a number"),
        ("application/json", b'["\\ud800"]', "the JSON body cannot be used: it holds an unpaired surrogate"),
        ("application/json", b'{"\\udfff":1}', "the JSON body cannot be used: it holds an unpaired surrogate"),
        ("text/plain", b"caf\xe9", "the text/plain body is not valid UTF-8"),
        ("application/x-www-form-urlencoded", b"a=%ff", "the form body has a percent-escape that is not UTF-8"),
        (None, b"\xff\xfe", "the body has no content type and is neither JSON nor UTF-8 text"),
    ],
)
def test_malformed_bodies_are_400(content_type: str | None, body: bytes, message: str) -> None:
    caught = refusal({} if content_type is None else {"Content-Type": content_type}, body)
    assert (caught.status, caught.reason) == (400, "MalformedBody")
    assert caught.message.startswith(message)


@pytest.mark.parametrize(
    "content_type",
    ["application/octet-stream", "image/png", "application/xml", "multipart/form-data; boundary=x", "x"],
)
def test_other_media_types_are_415(content_type: str) -> None:
    caught = refusal({"Content-Type": content_type}, b"\x89PNG")
    assert (caught.status, caught.reason) == (415, "UnsupportedMediaType")
    assert "\x89" not in caught.message


def test_messages_never_quote_the_body() -> None:
    caught = refusal(JSON, b'{"password":"hunter2"')
    assert "hunter2" not in caught.message


def test_received_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_event(ref=REF, spec=SPEC, method="POST", headers={}, body=b"", received_at=datetime(2026, 1, 1))


# ---- whatever the request: an event that serialises, or an IntakeError ----------------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        "Content-Type",
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-time",
        "ce-subject",
        "ce-",
        "ce-Ext",
        "X-GitHub-Delivery",
        "Idempotency-Key",
        "X-Other",
    ]
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/cloudevents+xml",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/octet-stream",
        "",
        "application/json; charset=latin-1",
    ]
)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
CLOUDEVENT_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "specversion": st.sampled_from(["1.0", "0.3", 1]),
        "id": ANY_TEXT | st.integers(),
        "source": ANY_TEXT,
        "type": ANY_TEXT,
        "time": st.sampled_from(["2026-03-29T01:00:00Z", "2026", "9999-12-31T23:59:59-01:00", "soon"]) | st.integers(),
        "subject": ANY_TEXT | st.none(),
        "data": JSON_VALUES,
        "data_base64": ANY_TEXT,
        "datacontenttype": ANY_TEXT,
        "ext": JSON_VALUES,
        "Bad-Name": st.just(1),
    },
)
BODIES = (
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda value: json.dumps(value).encode())
    | CLOUDEVENT_LIKE.map(lambda value: json.dumps(value).encode())
    | st.text(max_size=60).map(str.encode)
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.dictionaries(HEADER_NAMES, ANY_TEXT, max_size=6),
    content_type=st.none() | CONTENT_TYPES | ANY_TEXT,
    body=BODIES,
)
def test_any_request_gives_an_event_or_an_intake_error(
    headers: dict[str, str], content_type: str | None, body: bytes
) -> None:
    if content_type is not None:
        headers = {**headers, "Content-Type": content_type}
    got = event_or_refusal(headers, body)
    if isinstance(got, IntakeError):
        assert got.status in (400, 415)
        assert "\n" not in got.message
        outcome(f"{got.status} {got.reason}")
        return
    got.to_json().encode("utf-8")
    assert got.time.tzinfo is not None
    outcome("cloudevent" if got.type != WEBHOOK_RECEIVED else "plain event")


NON_EMPTY_TEXT = st.text(st.characters(exclude_categories=()), min_size=1, max_size=30)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    attributes=st.fixed_dictionaries(
        {"specversion": st.just("1.0"), "id": NON_EMPTY_TEXT, "source": NON_EMPTY_TEXT, "type": NON_EMPTY_TEXT},
        optional={
            "time": st.sampled_from(
                ["2026-03-29T01:00:00Z", "2026-03-29T01:00:00.5+02:00", "0001-01-01T00:00:00+01:00"]
            ),
            "subject": NON_EMPTY_TEXT,
            "datacontenttype": st.sampled_from(["application/json", "text/plain", "image/png", "application/x+json"]),
            "ext": st.text(max_size=5),
        },
    ),
    data=JSON_VALUES | st.binary(max_size=20),
    binary=st.booleans(),
)
def test_any_cloudevent_gives_an_event_or_an_intake_error(attributes: dict[str, str], data: Any, binary: bool) -> None:
    if binary:
        headers = {f"ce-{name}": value for name, value in attributes.items() if name != "datacontenttype"}
        if "datacontenttype" in attributes:
            headers["Content-Type"] = attributes["datacontenttype"]
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
    else:
        headers = {"Content-Type": "application/cloudevents+json"}
        key = "data_base64" if isinstance(data, bytes) else "data"
        value = base64.b64encode(data).decode() if isinstance(data, bytes) else data
        body = json.dumps({**attributes, key: value}).encode("utf-8", "surrogatepass")
    got = event_or_refusal(headers, body)
    if isinstance(got, IntakeError):
        assert got.status == 400
        outcome(f"{got.status} {got.reason}")
        return
    got.to_json().encode("utf-8")
    outcome("event")

"""The event model: CloudEvents 1.0 structured JSON both ways (checked against the CloudEvents SDK), stable ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from jobwire.events import model
from jobwire.events.model import (
    Event,
    ProducerRef,
    format_rfc3339,
    manual_run_id,
    parse_rfc3339,
    schedule_tick_id,
)

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
SOURCE = "/apis/jobwire.io/v1alpha1/namespaces/ns/schedules/nightly"


def event(**changes: Any) -> Event:
    fields: dict[str, Any] = {"id": "tick-20260329T010000Z", "source": SOURCE, "type": model.TICK, "time": T0}
    return Event(**{**fields, **changes})


def wire(**changes: Any) -> dict[str, Any]:
    base = {"specversion": "1.0", "id": "e1", "source": "/s", "type": "t", "time": "2026-03-29T01:00:00Z"}
    return {**base, **changes}


def test_event_types_are_the_documented_names() -> None:
    assert (model.TICK, model.SENSOR_ITEM, model.WEBHOOK_RECEIVED) == (
        "jobwire.schedule.tick",
        "jobwire.sensor.item",
        "jobwire.webhook.received",
    )
    assert (model.JOB_STARTED, model.JOB_SUCCEEDED, model.JOB_FAILED) == (
        "jobwire.job.started",
        "jobwire.job.succeeded",
        "jobwire.job.failed",
    )
    assert model.AUTOMATION_TRIGGERED == "jobwire.automation.triggered"
    assert model.AUTOMATION_ACTION_FAILED == "jobwire.automation.action.failed"


def test_a_minimal_event_has_only_the_required_attributes_and_its_content_type() -> None:
    assert event().to_dict() == {
        "specversion": "1.0",
        "id": "tick-20260329T010000Z",
        "source": SOURCE,
        "type": "jobwire.schedule.tick",
        "time": "2026-03-29T01:00:00Z",
        "datacontenttype": "application/json",
    }


def test_subject_and_data_appear_when_set_and_time_is_written_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    full = event(time=datetime(2026, 3, 29, 3, 0, 0, 250000, tzinfo=paris), subject="item/7", data={"n": [1, None]})
    assert full.to_dict() == {
        "specversion": "1.0",
        "id": "tick-20260329T010000Z",
        "source": SOURCE,
        "type": "jobwire.schedule.tick",
        "time": "2026-03-29T01:00:00.25Z",
        "datacontenttype": "application/json",
        "subject": "item/7",
        "data": {"n": [1, None]},
    }


def test_falsy_data_is_still_data() -> None:
    assert event(data=0).to_dict()["data"] == 0
    assert event(data="").to_dict()["data"] == ""
    assert event(data=[]).to_dict()["data"] == []


def test_to_json_is_compact_sorted_and_keeps_unicode() -> None:
    text = event(data={"b": "é", "a": 1}).to_json()
    assert text == (
        '{"data":{"a":1,"b":"é"},"datacontenttype":"application/json","id":"tick-20260329T010000Z",'
        f'"source":"{SOURCE}","specversion":"1.0","time":"2026-03-29T01:00:00Z","type":"jobwire.schedule.tick"}}'
    )


def test_binary_data_travels_as_data_base64() -> None:
    binary = event(data=b"\x00\xff", datacontenttype="application/octet-stream")
    as_dict = binary.to_dict()
    assert as_dict["data_base64"] == "AP8="
    assert "data" not in as_dict
    assert Event.from_dict(as_dict) == binary


@pytest.mark.parametrize(
    "value",
    [
        event(),
        event(subject="s", data={"nested": {"list": [1, 2.5, True, None, "x"]}}),
        event(
            time=datetime(2026, 1, 1, 12, 30, 45, 123456, tzinfo=UTC), data="plain text", datacontenttype="text/plain"
        ),
        event(data=b"raw", datacontenttype="application/octet-stream"),
    ],
)
def test_from_dict_inverts_to_dict_and_json(value: Event) -> None:
    assert Event.from_dict(value.to_dict()) == value
    assert Event.from_dict(json.loads(value.to_json())) == value


def test_from_dict_reads_offsets_lowercase_and_nanoseconds() -> None:
    assert Event.from_dict(wire(time="2026-03-29T03:00:00+02:00")).time == T0
    assert Event.from_dict(wire(time="2026-03-29t01:00:00z")).time == T0
    precise = Event.from_dict(wire(time="2026-03-29T01:00:00.123456789Z")).time
    assert precise == T0 + timedelta(microseconds=123456)


def test_from_dict_ignores_extension_attributes_and_defaults_the_content_type() -> None:
    read = Event.from_dict(wire(traceparent="00-abc", data={"k": 1}))
    assert read == Event(id="e1", source="/s", type="t", time=T0, data={"k": 1})


@pytest.mark.parametrize("attribute", ["id", "source", "type", "time"])
def test_from_dict_names_a_missing_attribute(attribute: str) -> None:
    broken = wire()
    del broken[attribute]
    with pytest.raises(ValueError, match=f"^event attribute {attribute} is missing$"):
        Event.from_dict(broken)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"specversion": "0.3"}, "event attribute specversion must be '1.0'"),
        ({"id": ""}, "event attribute id must be a non-empty string"),
        ({"source": 7}, "event attribute source must be a non-empty string"),
        ({"time": "2026-03-29T01:00:00"}, "event attribute time is not an RFC 3339 time"),
        ({"time": "2026-03-29"}, "event attribute time is not an RFC 3339 time"),
        ({"time": "2026-W13-7T01:00:00Z"}, "event attribute time is not an RFC 3339 time"),
        ({"time": "2026-02-30T01:00:00Z"}, "event attribute time is not an RFC 3339 time"),
        ({"subject": 1}, "event attribute subject must be a string"),
        ({"datacontenttype": ["x"]}, "event attribute datacontenttype must be a string"),
        ({"data": 1, "data_base64": "AA=="}, "event has both data and data_base64"),
        ({"data_base64": "not base64!"}, "event attribute data_base64 is not valid base64"),
        ({"data_base64": 5}, "event attribute data_base64 must be a string"),
    ],
)
def test_from_dict_refuses_invalid_attributes(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        Event.from_dict(wire(**changes))


def test_from_dict_refuses_something_that_is_not_an_object() -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        Event.from_dict([])  # type: ignore[arg-type]


def test_an_event_needs_an_aware_time_and_non_empty_ids() -> None:
    with pytest.raises(ValueError, match="time must be a timezone-aware datetime"):
        event(time=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="attribute id must be a non-empty string"):
        event(id="")
    with pytest.raises(ValueError, match="attribute type must be a non-empty string"):
        event(type="")


def test_the_cloudevents_sdk_reads_our_json() -> None:
    ours = event(subject="s", data={"a": [1, 2]})
    theirs = JSONFormat().read(None, ours.to_json())
    assert (theirs.get_id(), theirs.get_source(), theirs.get_type(), theirs.get_subject()) == (
        ours.id,
        ours.source,
        ours.type,
        "s",
    )
    assert theirs.get_time() == T0
    assert theirs.get_data() == {"a": [1, 2]}
    binary = JSONFormat().read(None, event(data=b"\x01", datacontenttype="application/octet-stream").to_json())
    assert binary.get_data() == b"\x01"


def test_we_read_the_cloudevents_sdk_json() -> None:
    moment = datetime(2026, 3, 29, 3, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2)))
    theirs = CloudEvent({"id": "1", "source": "/s", "type": "t", "time": moment, "subject": "x"}, {"k": "v"})
    ours = Event.from_dict(json.loads(JSONFormat().write(theirs)))
    assert ours == Event(id="1", source="/s", type="t", time=moment, subject="x", data={"k": "v"})
    raw = CloudEvent({"id": "2", "source": "/s", "type": "t", "time": T0, "datacontenttype": "x/y"}, b"\x00")
    assert Event.from_dict(json.loads(JSONFormat().write(raw))).data == b"\x00"


@pytest.mark.parametrize(
    ("kind", "plural"),
    [("Schedule", "schedules"), ("Sensor", "sensors"), ("Webhook", "webhooks"), ("Automation", "automations")],
)
def test_a_producer_source_is_its_api_path(kind: str, plural: str) -> None:
    ref = ProducerRef(kind=kind, namespace="team-a", name="db.backup", uid="u1")
    assert ref.source == f"/apis/jobwire.io/v1alpha1/namespaces/team-a/{plural}/db.backup"
    assert ref.api_version == "jobwire.io/v1alpha1"


def test_a_tick_id_is_its_utc_instant() -> None:
    assert schedule_tick_id(T0) == "tick-20260329T010000Z"
    tokyo = timezone(timedelta(hours=9))
    assert schedule_tick_id(datetime(2026, 3, 29, 10, 0, tzinfo=tokyo)) == "tick-20260329T010000Z"
    assert schedule_tick_id(T0 + timedelta(milliseconds=500)) == "tick-20260329T010000.5Z"
    assert schedule_tick_id(T0 + timedelta(microseconds=1)) == "tick-20260329T010000.000001Z"


def test_a_tick_id_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule_tick_id(datetime(2026, 3, 29, 1, 0))


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_distinct_instants_have_distinct_tick_ids(a: datetime, b: datetime) -> None:
    assert (schedule_tick_id(a) == schedule_tick_id(b)) == (a == b)


def test_a_manual_run_id_hashes_the_requested_value() -> None:
    # sha256("2026-03-29T01:00:00Z") starts with 48f14681cc7a89ea.
    assert manual_run_id("2026-03-29T01:00:00Z") == "run-48f14681cc7a89ea"
    assert manual_run_id("2026-03-29T01:00:01Z") != manual_run_id("2026-03-29T01:00:00Z")
    assert manual_run_id("") == "run-e3b0c44298fc1c14"


def test_rfc3339_helpers_round_trip_and_refuse_naive_times() -> None:
    moment = datetime(2026, 3, 29, 1, 0, 0, 10, tzinfo=UTC)
    assert format_rfc3339(moment) == "2026-03-29T01:00:00.00001Z"
    assert parse_rfc3339(format_rfc3339(moment)) == moment
    with pytest.raises(ValueError, match="timezone-aware"):
        format_rfc3339(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_rfc3339("yesterday")


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_and_parse_are_inverse(moment: datetime) -> None:
    assert parse_rfc3339(format_rfc3339(moment)) == moment

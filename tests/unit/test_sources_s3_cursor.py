"""The S3 cursor: objects written in the same second are neither lost nor repeated, whatever the listing order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jobwire.sources.base import SourceError
from jobwire.sources.s3 import S3Cursor, S3Object, format_cursor, new_objects, parse_cursor

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def obj(key: str, seconds: float = 0, etag: str | None = None) -> S3Object:
    return S3Object(key=key, size=1, etag=etag or f"e{key}", last_modified=T0 + timedelta(seconds=seconds))


def seen(*keys: str) -> frozenset[str]:
    """The cursor's record of objects (at their default content)."""
    return frozenset(f"{key}@e{key}" for key in keys)


def test_the_first_poll_takes_everything_oldest_first_then_by_key() -> None:
    fresh, cursor = new_objects([obj("c", 2), obj("b", 1), obj("a", 2)], S3Cursor())

    assert [o.key for o in fresh] == ["b", "a", "c"]
    assert cursor == S3Cursor(after=T0 + timedelta(seconds=2), keys=seen("a", "c"))


def test_an_object_in_the_same_second_as_the_cursor_is_new_once() -> None:
    _, cursor = new_objects([obj("a"), obj("b")], S3Cursor())

    fresh, following = new_objects([obj("a"), obj("b"), obj("c")], cursor)
    again, unchanged = new_objects([obj("a"), obj("b"), obj("c")], following)

    assert [o.key for o in fresh] == ["c"]
    assert following == S3Cursor(after=T0, keys=seen("a", "b", "c"))
    assert again == []
    assert unchanged == following


def test_a_newer_second_replaces_the_keys_and_older_objects_stay_old() -> None:
    cursor = S3Cursor(after=T0, keys=seen("a"))

    fresh, following = new_objects([obj("old", -5), obj("a"), obj("n1", 1), obj("n2", 1)], cursor)

    assert [o.key for o in fresh] == ["n1", "n2"]
    assert following == S3Cursor(after=T0 + timedelta(seconds=1), keys=seen("n1", "n2"))


def test_an_object_rewritten_within_the_same_second_is_new_again() -> None:
    _, cursor = new_objects([obj("a")], S3Cursor())

    fresh, following = new_objects([obj("a", etag="changed")], cursor)

    assert [(o.key, o.etag) for o in fresh] == [("a", "changed")]
    assert following.keys == seen("a") | {"a@changed"}


def test_nothing_new_keeps_the_cursor() -> None:
    cursor = S3Cursor(after=T0, keys=seen("a"))

    assert new_objects([obj("a"), obj("old", -1)], cursor) == ([], cursor)
    assert new_objects([], S3Cursor()) == ([], S3Cursor())


def test_the_cursor_is_compact_json_that_reads_back_the_same() -> None:
    cursor = S3Cursor(after=T0 + timedelta(microseconds=250_000), keys=frozenset({"z", "a"}))

    text = format_cursor(cursor)

    assert json.loads(text) == {"after": "2026-03-01T12:00:00.25Z", "keys": ["a", "z"]}
    assert parse_cursor(text) == cursor
    assert parse_cursor(None) == S3Cursor()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"keys": []}',
        '{"after": "yesterday", "keys": []}',
        '{"after": "2026-03-01T12:00:00", "keys": []}',  # no zone: no instant
        '{"after": "2026-03-01T12:00:00Z", "keys": [1]}',
    ],
)
def test_an_unreadable_cursor_is_refused(text: str) -> None:
    with pytest.raises(SourceError) as failure:
        parse_cursor(text)

    assert failure.value.reason == "BadCursor"

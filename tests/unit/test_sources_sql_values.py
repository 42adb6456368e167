"""SQL source helpers: DSN forms, the cursor as text and back, and rows as JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from jobwire.sources.base import SourceError
from jobwire.sources.sql import cursor_parameter, cursor_text, dsn_for_asyncpg, json_value


def test_a_uri_dsn_is_used_as_it_is() -> None:
    dsn = "postgresql://u:p@db:5432/app?sslmode=require"

    assert dsn_for_asyncpg(dsn) == dsn
    assert dsn_for_asyncpg("postgres://u@db/app") == "postgres://u@db/app"


def test_a_keyword_dsn_becomes_the_same_uri_with_quoted_values_unescaped() -> None:
    dsn = r"host=db.example port = 6432 dbname=app user=me password='its \'q\' \\ x' sslmode=require"

    parts = urlsplit(dsn_for_asyncpg(dsn))

    assert parts.scheme == "postgresql"
    assert dict(parse_qsl(parts.query)) == {
        "host": "db.example",
        "port": "6432",
        "dbname": "app",
        "user": "me",
        "password": "its 'q' \\ x",
        "sslmode": "require",
    }


@pytest.mark.parametrize("dsn", ["", "   ", "just words", "host=db 'unterminated"])
def test_a_dsn_that_is_neither_form_is_refused(dsn: str) -> None:
    with pytest.raises(ValueError, match="not a connection string"):
        dsn_for_asyncpg(dsn)


@pytest.mark.parametrize(
    ("value", "type_name", "text"),
    [
        (42, "int8", "42"),
        (7, "int4", "7"),
        (1.5, "float8", "1.5"),
        (Decimal("12.50"), "numeric", "12.50"),
        (datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC), "timestamptz", "2026-01-02T03:04:05.250000+00:00"),
        (datetime(2026, 1, 2, 3, 4, 5), "timestamp", "2026-01-02T03:04:05"),
        (date(2026, 1, 2), "date", "2026-01-02"),
        (time(3, 4, 5), "time", "03:04:05"),
        (uuid.UUID(int=5), "uuid", str(uuid.UUID(int=5))),
        ("abc", "text", "abc"),
        (True, "bool", "true"),
    ],
)
def test_a_cursor_round_trips_through_its_text(value: Any, type_name: str, text: str) -> None:
    assert cursor_text(value) == text
    assert cursor_parameter(text, type_name) == value


def test_no_cursor_is_null_and_unknown_types_get_the_text() -> None:
    assert cursor_parameter(None, "int8") is None
    assert cursor_parameter("x", "inet") == "x"


def test_a_cursor_that_does_not_fit_the_parameter_type_is_refused() -> None:
    with pytest.raises(SourceError) as failure:
        cursor_parameter("yesterday", "timestamptz")

    assert failure.value.reason == "BadCursor"
    assert "timestamptz" in failure.value.message


def test_row_values_become_plain_json() -> None:
    row = {
        "n": 1,
        "f": float("inf"),
        "d": Decimal("0.10"),
        "t": datetime(2026, 1, 2, tzinfo=UTC),
        "span": timedelta(minutes=1, seconds=30),
        "b": b"\x00\x01",
        "u": uuid.UUID(int=1),
        "tags": ["a", Decimal(2)],
        "doc": {"k": date(2026, 1, 2)},
        "none": None,
    }

    assert json_value(row) == {
        "n": 1,
        "f": "inf",
        "d": "0.10",
        "t": "2026-01-02T00:00:00+00:00",
        "span": "90.0",
        "b": "AAE=",
        "u": "00000000-0000-0000-0000-000000000001",
        "tags": ["a", "2"],
        "doc": {"k": "2026-01-02"},
        "none": None,
    }

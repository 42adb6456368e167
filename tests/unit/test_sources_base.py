"""The source contract's shared helpers: keys, CEL results, errors without secrets, time limits."""

from __future__ import annotations

import asyncio

import pytest

from jobwire.sources.base import (
    MAX_KEY_LENGTH,
    Item,
    PollResult,
    SourceError,
    condition_value,
    fit_key,
    item_key,
    scrub,
    time_limit,
)
from jobwire.sources.http import shown_url


def test_long_keys_are_shortened_but_stay_distinct() -> None:
    a, b = "x" * 600 + "a", "x" * 600 + "b"

    assert fit_key("short") == "short"
    assert len(fit_key(a)) == MAX_KEY_LENGTH
    assert fit_key(a) != fit_key(b)
    assert fit_key(a) == fit_key(a)


def test_an_item_key_is_a_bounded_string() -> None:
    with pytest.raises(ValueError, match="at most"):
        Item(key="k" * (MAX_KEY_LENGTH + 1), data=None)
    with pytest.raises(ValueError, match="string"):
        Item(key=5, data=None)  # type: ignore[arg-type]


def test_keys_from_cel_are_strings_as_they_are_and_json_otherwise() -> None:
    assert item_key("item.id", {"item": {"id": "a-1"}}) == "a-1"
    assert item_key("item.id", {"item": {"id": 7}}) == "7"
    assert item_key("item", {"item": {"b": 1, "a": [True, None]}}) == '{"a":[true,null],"b":1}'


def test_a_condition_must_be_a_bool_and_failures_name_the_expression_only() -> None:
    assert condition_value("response.n > 1", {"response": {"n": 2}}) is True
    for expression in ("response.n", "response.missing"):
        with pytest.raises(SourceError) as failure:
            condition_value(expression, {"response": {"n": "hidden-value"}})
        assert failure.value.reason == "ExpressionFailed"
        assert expression in failure.value.message
        assert "hidden-value" not in str(failure.value)


def test_a_source_error_is_one_line_with_its_reason() -> None:
    error = SourceError("BadStatus", "GET http://h/p\nanswered   500")

    assert (error.reason, error.message, str(error)) == ("BadStatus", "GET http://h/p answered 500", error.args[0])
    assert str(error) == "BadStatus: GET http://h/p answered 500"


def test_scrub_removes_every_secret_longest_first() -> None:
    assert scrub("token abc and abcdef", ["abc", "abcdef", None, ""]) == "token *** and ***"


def test_urls_are_shown_without_credentials_or_query() -> None:
    assert shown_url("https://u:p@example.com:8443/a/b?token=t#f") == "https://example.com:8443/a/b"
    assert shown_url("http://example.com") == "http://example.com/"


async def test_a_time_limit_turns_into_a_timeout_error() -> None:
    with pytest.raises(SourceError) as failure:
        async with time_limit(0.01, "waiting"):
            await asyncio.Event().wait()

    assert failure.value.reason == "Timeout"
    assert failure.value.message == "waiting took longer than 0.01s"


def test_a_poll_result_defaults_to_nothing_new() -> None:
    assert PollResult() == PollResult(items=(), cursor=None, condition=None, detail="")

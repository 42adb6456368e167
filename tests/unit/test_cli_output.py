"""The CLI's plain-text output: kubectl-style tables, ages and times, counters, and cells that cannot carry
control characters to the terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jobwire.cli.output import EMPTY, age, clean, counts, dumps, parse_time, shorten, table, when

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_columns_are_left_aligned_three_spaces_apart_under_upper_case_headers() -> None:
    text = table(("name", "outcome", "job"), [["nightly", "Succeeded", "nightly-abc"], ["n", "Failed", "x"]])
    assert text.splitlines() == [
        "NAME      OUTCOME     JOB",
        "nightly   Succeeded   nightly-abc",
        "n         Failed      x",
    ]


def test_empty_cells_show_a_dash_and_short_rows_are_padded_without_trailing_spaces() -> None:
    text = table(("a", "b", "c"), [["x", None, ""], ["y"]])
    assert text.splitlines() == ["A   B   C", f"x   {EMPTY}   {EMPTY}", f"y   {EMPTY}   {EMPTY}"]
    assert all(line == line.rstrip() for line in text.splitlines())


def test_the_widest_cell_sets_the_width_including_the_header() -> None:
    text = table(("reason", "x"), [["Forbidden", 1], ["ParameterFailed", 22]])
    lines = text.splitlines()
    assert [line.index(cell) for line, cell in zip(lines, ("X", "1", "22"), strict=True)] == [18, 18, 18]


def test_an_indent_prefixes_every_line() -> None:
    assert table(("a",), [["b"]], indent="  ").splitlines() == ["  A", "  b"]


def test_only_headers_when_there_are_no_rows() -> None:
    assert table(("time", "outcome"), []) == "TIME   OUTCOME"


def test_a_row_longer_than_the_headers_is_a_bug() -> None:
    with pytest.raises(ValueError, match="3 cells for 2 columns"):
        table(("a", "b"), [[1, 2, 3]])


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "plain"),
        ("two\nlines", "two lines"),
        ("tab\there", "tab here"),
        ("\x1b[31mred\x1b[0m", "[31mred [0m"),  # the escape character is gone: no colour, no cursor moves
        ("bell\x07", "bell"),
        ("c1\x9bcontrol", "c1 control"),
        ("bidi\u202eevil", "bidi evil"),
        (None, ""),
        (3, "3"),
    ],
)
def test_cells_are_one_line_of_printable_text(value: object, shown: str) -> None:
    assert clean(value) == shown
    assert table(("v",), [[value]]).splitlines()[1] == (shown or EMPTY)


def test_a_hostile_cell_cannot_break_the_table() -> None:
    lines = table(("event", "outcome"), [["id\n\rINJECTED   Succeeded", "Failed"]]).splitlines()
    assert len(lines) == 2
    assert lines[1].endswith("Failed")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600 + 60 * 5, "3h5m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_read_as_kubectl_writes_them(seconds: int, shown: str) -> None:
    assert age(NOW - timedelta(seconds=seconds), NOW) == shown


def test_future_moments_and_missing_ones() -> None:
    assert age(NOW + timedelta(minutes=5), NOW) == "in 5m"
    assert age(None, NOW) == ""


def test_when_gives_the_stored_time_and_its_age() -> None:
    assert when("2026-05-01T11:57:00Z", NOW) == "2026-05-01T11:57:00Z (3m ago)"
    assert when("2026-05-01T12:00:30Z", NOW) == "2026-05-01T12:00:30Z (in 30s)"
    assert when(None, NOW) == ""
    assert when("not a time", NOW) == "not a time"


def test_parse_time_takes_rfc3339_and_nothing_else() -> None:
    assert parse_time("2026-05-01T12:00:00Z") == NOW
    assert parse_time("2026-05-01T14:00:00+02:00") == NOW
    assert parse_time("2026-05-01") is None
    assert parse_time(None) is None
    assert parse_time(17) is None


def test_counters_in_the_order_things_happen_then_the_rest() -> None:
    stored = {"failed": 1, "created": 3, "skipped": 0, "succeeded": 2}
    assert counts(stored) == "created 3, succeeded 2, failed 1, skipped 0"
    webhook = {"accepted": 1, "duplicates": 0, "filtered": 2, "received": 4, "rejected": {"BadSignature": 1}}
    assert counts(webhook) == "received 4, accepted 1, duplicates 0, filtered 2"
    assert counts({"zeta": 1, "BadToken": 2}) == "BadToken 2, zeta 1"
    assert counts(None) == ""


def test_shorten_marks_what_it_cut() -> None:
    assert shorten("abcdef", 6) == "abcdef"
    assert shorten("abcdefg", 6) == "abcde…"
    with pytest.raises(ValueError, match="at least 1"):
        shorten("x", 0)


def test_json_keeps_order_and_text() -> None:
    assert dumps({"b": 1, "a": "ü"}) == '{\n  "b": 1,\n  "a": "ü"\n}'


def test_json_escapes_every_control_character_and_stays_the_same_value() -> None:
    value = {"eventId": "a\x1b[2Jb\x9bc\u202ed\n"}
    text = dumps(value)
    assert all(ch not in text for ch in "\x1b\x9b\u202e")
    assert "\\u009b" in text
    assert json.loads(text) == value

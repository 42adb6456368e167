"""CEL at Jobwire's boundary: results, one-line errors that never quote a variable's value, the compile cache."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import cel as cel_library
import pytest

from jobwire.cel import CelError, check, compile_expression, evaluate, json_ready

SECRET = "hunter2-do-not-print"
EVENT: dict[str, Any] = {
    "event": {
        "id": "e1",
        "type": "jobwire.webhook.received",
        "source": "/apis/jobwire.io/v1alpha1/namespaces/ns/webhooks/gh",
        "time": "2026-03-29T01:00:00Z",
        "data": {"s": SECRET, "n": 5, "big": 9223372036854775807, "list": [1, 2], "key": SECRET, "empty": {}},
    }
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("event.data.n + 1", 6),
        ("event.data.s.size()", len(SECRET)),
        ("event.data.list.map(x, x * 2)", [2, 4]),
        ("has(event.data.missing)", False),
        ("event.type.startsWith('jobwire.')", True),
        ("timestamp(event.time) == timestamp('2026-03-29T01:00:00Z')", True),
        ("{'a': event.data.n}", {"a": 5}),
        ("null", None),
    ],
)
def test_expressions_evaluate_over_the_event(expression: str, expected: Any) -> None:
    assert evaluate(expression, EVENT) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("event.data.x", "expression `event.data.x`: no such key: x"),
        ("event.data['dash-key']", "expression `event.data['dash-key']`: no such key: dash-key"),
        ("event.data.list[5]", "expression `event.data.list[5]`: index out of range"),
        ("event.data.n / 0", "expression `event.data.n / 0`: division by zero"),
        ("event.data.n % 0", "expression `event.data.n % 0`: modulo by zero"),
        ("evnt.data", "expression `evnt.data`: undefined variable or function: evnt"),
        ("event.data.s.shout()", "expression `event.data.s.shout()`: undefined variable or function: shout"),
        (
            "event.data.s + 1",
            "expression `event.data.s + 1`: unsupported operation: string + int (CEL does not convert types)",
        ),
        (
            "event.data.s < 1",
            "expression `event.data.s < 1`: no such overload for these operand types (CEL does not convert types)",
        ),
        ("int('x')", "expression `int('x')`: function int() failed on its arguments"),
        ("event.data.big + 1", "expression `event.data.big + 1`: arithmetic overflow"),
    ],
)
def test_evaluation_errors_are_one_exact_line(expression: str, message: str) -> None:
    with pytest.raises(CelError) as caught:
        evaluate(expression, EVENT)
    assert str(caught.value) == message
    assert caught.value.expression == expression


@pytest.mark.parametrize(
    "expression",
    [
        "duration(event.data.s)",  # the library's message quotes the string it could not parse
        "event.data[event.data.key]",  # the missing key is the secret itself
        "event.data.big + event.data.n",  # the library's overflow message quotes both operands
        "timestamp(event.data.s)",
        "event.data.s.matches(event.data.s + '[')",
        "int(event.data.s)",
        "event.data.list[event.data.big]",
    ],
)
def test_no_error_message_carries_a_variable_value(expression: str) -> None:
    with pytest.raises(CelError) as caught:
        evaluate(expression, EVENT)
    assert SECRET not in str(caught.value)
    assert "9223372036854775807" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_key_is_named_only_when_the_expression_names_it() -> None:
    with pytest.raises(CelError, match=r"`event.data\[event.data.key\]`: no such key$"):
        evaluate("event.data[event.data.key]", EVENT)


def test_syntax_errors_give_the_position_on_one_line() -> None:
    with pytest.raises(CelError) as caught:
        compile_expression("1 +")
    assert str(caught.value) == "expression `1 +`: syntax error at 1:4: mismatched input '<EOF>'"
    assert check("a.?b") == "expression `a.?b`: syntax error at 1:2: unsupported syntax '.?'"
    assert check("has(1)") == "expression `has(1)`: syntax error at 1:5: invalid argument to has() macro"


def test_a_multi_line_or_long_expression_is_shown_on_one_short_line() -> None:
    message = check("event.data.a\n  &&\n  (")
    assert message is not None
    assert message.startswith("expression `event.data.a && (`: syntax error at 3:4:")
    assert "\n" not in message
    long_message = check("event.data.value_" + "x" * 300 + " +")
    assert long_message is not None
    shown = long_message.split("`")[1]
    assert len(shown) == 120
    assert shown.endswith("…")


def test_check_accepts_what_compiles() -> None:
    assert check("event.data.items.all(i, i.size() > 0)") is None
    assert check("") == "expression ``: syntax error at 1:1: mismatched input '<EOF>'"


def test_cel_error_is_a_value_error_with_its_parts() -> None:
    error = CelError("a.b", "no such key: b")
    assert isinstance(error, ValueError)
    assert (error.expression, error.problem, str(error)) == (
        "a.b",
        "no such key: b",
        "expression `a.b`: no such key: b",
    )


def test_compiled_programs_are_cached() -> None:
    source = "event.data.n * 3 + 1"
    assert compile_expression(source) is compile_expression(source)
    assert isinstance(compile_expression(source), cel_library.Program)


def test_datetimes_in_variables_become_rfc3339_strings() -> None:
    moment = datetime(2026, 3, 29, 3, 0, 0, 500000, tzinfo=UTC) + timedelta(hours=0)
    assert evaluate("t", {"t": moment}) == "2026-03-29T03:00:00.5Z"
    assert evaluate("xs[0].at", {"xs": [{"at": moment}]}) == "2026-03-29T03:00:00.5Z"
    assert evaluate("timestamp(t).getHours()", {"t": moment}) == 3


def test_a_naive_datetime_variable_is_refused() -> None:
    with pytest.raises(CelError, match=r"`t`: a variable holds a datetime without a time zone$"):
        evaluate("t", {"t": datetime(2026, 1, 1)})


def test_a_variable_cel_cannot_read_is_an_error_not_a_crash() -> None:
    with pytest.raises(CelError, match=r"`x`: a variable holds a value CEL cannot read \(set\)$"):
        evaluate("x", {"x": {1, 2}})


def test_deeply_nested_variables_are_refused_before_the_library_sees_them() -> None:
    # The library crashes the whole process on values nested some ten thousand deep.
    nested: Any = 1
    for _ in range(20_000):
        nested = {"a": nested}
    with pytest.raises(CelError, match="nested too deeply"):
        evaluate("x", {"x": nested})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s", "s"),
        (True, True),
        (7, 7),
        (1.5, 1.5),
        (None, None),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29T01:00:00Z"),
        (timedelta(hours=1), "3600s"),
        (timedelta(seconds=1, microseconds=500000), "1.5s"),
        (timedelta(seconds=-2), "-2s"),
        (timedelta(microseconds=-1), "-0.000001s"),
        (timedelta(0), "0s"),
        (b"\x00\xff", "AP8="),
        (
            {"a": [b"\x01", timedelta(minutes=1)], 1: True, False: None},
            {"a": ["AQ==", "60s"], "1": True, "false": None},
        ),
        ((1, 2), [1, 2]),
        (cel_library.OptionalValue.of(3), 3),
        (cel_library.OptionalValue.none(), None),
    ],
)
def test_json_ready_turns_cel_results_into_json_values(value: Any, expected: Any) -> None:
    assert json_ready(value) == expected


def test_json_ready_refuses_what_has_no_json_form() -> None:
    with pytest.raises(TypeError, match="of type set has no JSON form"):
        json_ready({1})
    with pytest.raises(TypeError, match="map key of type float"):
        json_ready({1.5: 1})


def test_cel_results_of_every_kind_become_json() -> None:
    result = evaluate(
        "[timestamp(event.time), duration('90s'), b'ab', 1u, -1, 2.5, true, null, {'k': [1]}]",
        EVENT,
    )
    assert json_ready(result) == ["2026-03-29T01:00:00Z", "90s", "YWI=", 1, -1, 2.5, True, None, {"k": [1]}]
    assert math.isnan(json_ready(evaluate("0.0 / 0.0", {})))

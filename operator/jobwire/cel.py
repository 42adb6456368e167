"""CEL expressions over events: compile once, evaluate often, fail with one safe line.

Expressions come from users' specs (parameters, filters); variables come from events, which may carry secrets.
So every failure of the CEL library becomes one `CelError` whose message names the expression and the problem but
never a variable's value: the library's own messages sometimes quote the values they choked on, so they are
translated here, at this one boundary, and only text that already appears in the expression is echoed back.

    ValueError
    └── CelError          the expression does not compile, or failed on these variables

Variables are plain JSON-like values. Datetimes in them are turned into RFC 3339 strings first (CEL users call
`timestamp()` on them), so an event's `time` reads the same whether it came from a dataclass or from JSON.
"""

from __future__ import annotations

import base64
import re
from asyncio import CancelledError
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import cel

from jobwire.events.model import format_rfc3339

__all__ = ["COMPILE_CACHE_SIZE", "CelError", "check", "compile_expression", "evaluate", "json_ready"]

COMPILE_CACHE_SIZE = 4096
"""Compiled programs kept: more than the expressions of all specs of a busy cluster, so each compiles once."""

_SHOWN_EXPRESSION = 120
"""Characters of the expression quoted in a message: enough to recognise it, short enough for a status line."""

_SYNTAX_ERROR = re.compile(r"ERROR: <input>:(?P<line>\d+):(?P<column>\d+): (?:Syntax error: )?(?P<what>[^\n]*)")
_UNDEFINED = re.compile(r"^Undefined variable or function: '(?P<name>[^']*)'")
_FUNCTION_FAILED = re.compile(r"^Function '(?P<name>[^']*)' error")
_UNSUPPORTED_OPERATION = re.compile(r"^Unsupported operation: (?P<left>\w+) (?P<op>\S{1,3}) (?P<right>\w+)\.")
_CONVERSION = re.compile(r"Python object of type (?P<type>\w+)")
_LIBRARY_OWN_INTERRUPTS = (KeyboardInterrupt, SystemExit, GeneratorExit, CancelledError)


class CelError(ValueError):
    """An expression that does not compile or failed to evaluate; the message is one line without variable values."""

    def __init__(self, expression: str, problem: str) -> None:
        self.expression = expression
        self.problem = problem
        super().__init__(f"expression `{_shown(expression)}`: {problem}")


class _NaiveDatetime(Exception):
    """A datetime variable without a zone: no instant, so no RFC 3339 text for it."""


def compile_expression(source: str) -> cel.Program:
    """The compiled program for `source`, from a cache: specs are read again on every event, CEL parsing is not
    free, and the same few expressions recur."""
    return _compile_cached(source)


@lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile_cached(source: str) -> cel.Program:
    try:
        return cel.compile(source)
    except _LIBRARY_OWN_INTERRUPTS:
        raise
    except BaseException as exc:  # a Rust panic surfaces as a BaseException; it is still the expression's fault
        raise CelError(source, _compile_problem(exc)) from None


def check(source: str) -> str | None:
    """None when `source` compiles, else the message to show on the spec (validation without evaluation)."""
    try:
        compile_expression(source)
    except CelError as exc:
        return str(exc)
    return None


def evaluate(source: str, variables: dict[str, Any]) -> Any:
    """The value of `source` over `variables`, as the CEL library gives it (str, int, float, bool, None, list,
    dict, bytes, datetime, timedelta, cel.OptionalValue); see `json_ready` to turn it into plain JSON."""
    program = compile_expression(source)
    try:
        prepared = _plain_variables(variables)
    except RecursionError:
        # Also a guard: the library crashes the process on values nested some thousands deep.
        raise CelError(source, "the variables are nested too deeply") from None
    except _NaiveDatetime:
        raise CelError(source, "a variable holds a datetime without a time zone") from None
    try:
        return program.execute(prepared)
    except _LIBRARY_OWN_INTERRUPTS:
        raise
    except BaseException as exc:
        raise CelError(source, _evaluation_problem(exc, source)) from None


def json_ready(value: Any) -> Any:
    """A CEL result as plain JSON values: timestamps as RFC 3339, durations as CEL writes them ("90s"), bytes as
    base64 (protobuf's JSON mapping), an optional as its value or null. Map keys become strings."""
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, datetime):
        return format_rfc3339(value)
    if isinstance(value, timedelta):
        return _duration_text(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {_key_text(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, cel.OptionalValue):
        return json_ready(value.value()) if value.has_value() else None
    raise TypeError(f"a CEL result of type {type(value).__name__} has no JSON form")


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, str | int):
        return str(key)
    raise TypeError(f"a CEL map key of type {type(key).__name__} has no JSON form")


def _duration_text(duration: timedelta) -> str:
    micros = duration // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    text = f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".")
    return f"{sign}{text}s"


def _plain_variables(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _NaiveDatetime
        return format_rfc3339(value)
    if isinstance(value, dict):
        return {key: _plain_variables(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_variables(item) for item in value]
    return value


def _shown(expression: str) -> str:
    one_line = " ".join(expression.split())
    if len(one_line) <= _SHOWN_EXPRESSION:
        return one_line
    return one_line[: _SHOWN_EXPRESSION - 1] + "…"


def _compile_problem(exc: BaseException) -> str:
    match = _SYNTAX_ERROR.search(str(exc))
    if match is None:
        return f"does not compile ({type(exc).__name__})"
    what = match["what"].split(" expecting ", 1)[0].strip()
    return f"syntax error at {match['line']}:{match['column']}: {what}"


def _evaluation_problem(exc: BaseException, source: str) -> str:
    """What went wrong, in words that cannot carry a variable's value: only text found in `source` is quoted."""
    text = str(exc.args[0]) if exc.args else ""
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else None
        return f"no such key: {key}" if isinstance(key, str) and key and key in source else "no such key"
    if isinstance(exc, IndexError):
        return "index out of range"
    if isinstance(exc, ZeroDivisionError):
        return "modulo by zero" if "modulo" in text else "division by zero"
    if (match := _FUNCTION_FAILED.match(text)) and match["name"] in source:
        return f"function {match['name']}() failed on its arguments"
    if isinstance(exc, OverflowError):
        return "arithmetic overflow"
    if isinstance(exc, TypeError):
        if match := _UNSUPPORTED_OPERATION.match(text):
            return f"unsupported operation: {match['left']} {match['op']} {match['right']} (CEL does not convert types)"
        return "no such overload for these operand types (CEL does not convert types)"
    if (match := _UNDEFINED.match(text)) and match["name"] in source:
        return f"undefined variable or function: {match['name']}"
    if isinstance(exc, ValueError) and (match := _CONVERSION.search(text)):
        return f"a variable holds a value CEL cannot read ({match['type']})"
    return f"evaluation failed ({type(exc).__name__})"

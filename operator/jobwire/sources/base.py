"""The one interface every Sensor source implements, and the helpers they share.

A source is asked to `poll(cursor, context)` and answers with a `PollResult`: the items that are new since the
cursor (oldest first), the cursor to store next, and — for edge-triggered sources — the current value of their
condition. It knows nothing of Jobs, events, dedupe or status: the Sensor engine does that with the result.
A source may keep a client or a connection between polls; `close()` releases it.

Every failure a source reports is one `SourceError`, raised at the source's own boundary (`raise SourceError(...)
from None`): its `reason` is one CamelCase word the engine puts in status, its `message` one line that never holds
a secret, a DSN, a password, a header value or an access key.

    Exception
    └── SourceError    reason: Unreachable | Timeout | BadStatus | BadResponse | AuthFailed | QueryFailed |
                               ExpressionFailed | MissingSecret | SecretUnreadable | UnknownKind | BadCursor | ...
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from jobwire.api.common import SecretKeyRef
from jobwire.cel import CelError, evaluate, json_ready
from jobwire.kube.api import Kube
from jobwire.kube.errors import KubeError
from jobwire.kube.secrets import MissingSecret, SecretReader

__all__ = [
    "MAX_KEY_LENGTH",
    "Item",
    "PollContext",
    "PollResult",
    "Source",
    "SourceError",
    "condition_value",
    "expression_value",
    "fit_key",
    "http_session",
    "item_key",
    "one_line",
    "scrub",
    "secret_text",
    "time_limit",
]

MAX_KEY_LENGTH = 512
"""Longest dedupe key; longer ones are shortened by `fit_key`, keeping them distinct with a digest."""

_DIGEST_MARK = "…sha256:"
_MESSAGE_LENGTH = 512


@dataclass(frozen=True)
class Item:
    """One new thing a poll found."""

    key: str
    """Its dedupe key (at most MAX_KEY_LENGTH characters): the engine fires once per key."""
    data: Any
    """JSON-ready data: the event's `data`."""

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or len(self.key) > MAX_KEY_LENGTH:
            raise ValueError(f"an item key must be a string of at most {MAX_KEY_LENGTH} characters")


@dataclass(frozen=True)
class PollResult:
    """What one poll found."""

    items: tuple[Item, ...] = ()
    """Items new since the cursor, oldest first."""
    cursor: str | None = None
    """The cursor to store after this poll; None leaves the stored one as it is."""
    condition: bool | None = None
    """Edge-triggered sources: the condition's current value (the engine fires on false → true); else None."""
    detail: str = ""
    """One line for status (no secrets)."""


class SourceError(Exception):
    """A poll that failed; `str()` is "<reason>: <message>", safe to show in status and logs."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = one_line(message)
        super().__init__(f"{reason}: {self.message}")


@dataclass(frozen=True)
class PollContext:
    """What a poll may use besides its spec."""

    namespace: str
    """The Sensor's namespace: Secrets are read from it, and it is the default for namespaced lookups."""
    secrets: SecretReader = field(repr=False)
    """Reads the Secrets the spec names (cached briefly, so a rotated Secret is picked up)."""
    kube: Kube = field(repr=False)
    """The API server, as the operator sees it."""
    timeout: float
    """Seconds the whole poll may take; past it the poll fails with reason Timeout."""
    http: aiohttp.ClientSession | None = field(default=None, repr=False)
    """The engine's shared HTTP session (one TLS context and one connection pool for every Sensor)."""


def http_session(*, connections: int = 100) -> aiohttp.ClientSession:
    """The HTTP session sources poll with: aiohttp, which Kopf brings already.

    Not httpx (used by the CLI): at thousands of polls a minute the engine is CPU-bound, and an httpx request
    costs several times an aiohttp one (benchmarks/RESULTS.md, Sensors). No environment proxies or netrc: a
    Sensor's requests go where its spec says, with the headers its spec gives, and nothing read from the
    operator's home directory."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
        trust_env=False,
        auto_decompress=True,
    )


class HttpClients:
    """A source's HTTP session: the engine's shared one, else one of its own (a source used on its own)."""

    def __init__(self) -> None:
        self._own: aiohttp.ClientSession | None = None

    def client_for(self, context: PollContext) -> aiohttp.ClientSession:
        if context.http is not None:
            return context.http
        if self._own is None:
            self._own = http_session(connections=4)
        return self._own

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()


class Source(Protocol):
    """A configured source: polled again and again, closed once."""

    async def poll(self, cursor: str | None, context: PollContext) -> PollResult: ...

    async def close(self) -> None: ...


@asynccontextmanager
async def time_limit(seconds: float, what: str) -> AsyncIterator[None]:
    """Run the body within `seconds`; past it (or on a client's own timeout) raise SourceError Timeout."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise SourceError("Timeout", f"{what} took longer than {seconds:g}s") from None


async def secret_text(context: PollContext, ref: SecretKeyRef, what: str) -> str:
    """The text of a Secret's key (surrounding whitespace removed: a trailing newline is never meant).

    Errors name the Secret and key, never the value."""
    where = f"Secret {context.namespace}/{ref.name} key {ref.key!r} ({what})"
    try:
        raw = await context.secrets.value(context.namespace, ref.name, ref.key)
    except MissingSecret as exc:
        raise SourceError("MissingSecret", f"{exc} ({what})") from None
    except KubeError as exc:
        raise SourceError("SecretUnreadable", f"{where}: {type(exc).__name__} {exc.status or ''}".strip()) from None
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SourceError("MissingSecret", f"{where} is not UTF-8 text") from None


def expression_value(expression: str, variables: dict[str, Any]) -> Any:
    """A CEL expression's value; a failure becomes SourceError ExpressionFailed naming the expression only."""
    try:
        return evaluate(expression, variables)
    except CelError as exc:
        raise SourceError("ExpressionFailed", str(exc)) from None


def condition_value(expression: str, variables: dict[str, Any]) -> bool:
    """A CEL condition's value, which must be a bool."""
    value = expression_value(expression, variables)
    if not isinstance(value, bool):
        raise SourceError(
            "ExpressionFailed", f"expression `{one_line(expression, 120)}` gave a {_cel_type(value)}, not a bool"
        )
    return value


def item_key(expression: str, variables: dict[str, Any]) -> str:
    """A dedupe key from a CEL expression: strings as they are, anything else as compact JSON."""
    value = expression_value(expression, variables)
    if isinstance(value, str):
        return fit_key(value)
    try:
        text = json.dumps(json_ready(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        raise SourceError(
            "ExpressionFailed", f"expression `{one_line(expression, 120)}` gave a {_cel_type(value)}, not a key"
        ) from None
    return fit_key(text)


def fit_key(key: str) -> str:
    """`key` itself when short enough, else its start and its SHA-256: still distinct, at most MAX_KEY_LENGTH."""
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key[: MAX_KEY_LENGTH - len(_DIGEST_MARK) - len(digest)] + _DIGEST_MARK + digest


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every occurrence of each (non-trivial) secret replaced by `***`."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def one_line(text: str, limit: int = _MESSAGE_LENGTH) -> str:
    """`text` on one line, shortened to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _cel_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__

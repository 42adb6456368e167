"""SQL source: rows from PostgreSQL (asyncpg) newer than the cursor.

The query gets the cursor as `$1` (the first poll: `initialCursor`, or NULL) and returns rows, each with the key
column and the cursor column. Items are the rows, as returned (so `ORDER BY` the cursor column for oldest first),
as JSON-ready dicts (datetimes, decimals and UUIDs as text; json/jsonb decoded). The next cursor is the largest
cursor-column value of the rows, as text; no rows leave the cursor as it is.

The cursor is stored as text but handed to the query as the type PostgreSQL infers for `$1` (`WHERE id > $1` gets
a bigint, `WHERE created > $1` a timestamptz), so queries need no casts. A query without `$1` runs as it is.

The DSN, a libpq URI or `key=value` string, comes from a Secret and never appears in a message: PostgreSQL's own
errors become "<sqlstate> <message>", connection errors name only their kind. One connection is kept per source
(reconnected after a failure, or when the Secret's DSN changes), with `statement_timeout` set to the poll timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import asyncpg

from jobwire.api.sensor import SqlSource
from jobwire.sources.base import (
    Item,
    PollContext,
    PollResult,
    SourceError,
    fit_key,
    scrub,
    secret_text,
    time_limit,
)

__all__ = ["SqlPoller", "cursor_parameter", "cursor_text", "dsn_for_asyncpg", "json_value"]

_CLOSE_SECONDS = 2.0
_DROPS_CONNECTION = {"Unreachable", "Timeout", "AuthFailed", "BadDsn"}
_CONNINFO_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")
_INTEGER_TYPES = {"int2", "int4", "int8", "oid"}
_TEXT_TYPES = {"text", "varchar", "bpchar", "name", "unknown", "citext"}


class SqlPoller:
    """Polls one SqlSource over one kept connection."""

    def __init__(self, spec: SqlSource) -> None:
        self._spec = spec
        self._lock = asyncio.Lock()
        self._connection: asyncpg.Connection | None = None
        self._statement: Any = None  # asyncpg's PreparedStatement for spec.query on this connection
        self._dsn_digest = ""
        self._timeout_ms = 0
        self._secrets: tuple[str, ...] = ()

    async def poll(self, cursor: str | None, context: PollContext) -> PollResult:
        start = cursor if cursor is not None else self._spec.initial_cursor
        async with time_limit(context.timeout, "the query"):
            dsn = await secret_text(context, self._spec.dsn, "dsn")
            async with self._lock:
                try:
                    rows = await self._rows(dsn, start, context)
                except SourceError as exc:
                    if exc.reason in _DROPS_CONNECTION:
                        self._drop()
                    else:  # prepared again next time: a changed table invalidates a prepared statement
                        self._statement = None
                    raise
                except asyncio.CancelledError:  # the time limit (or shutdown) interrupted a statement: start afresh
                    self._drop()
                    raise
        return self._result(rows)

    async def close(self) -> None:
        async with self._lock:
            connection, self._connection, self._statement = self._connection, None, None
            if connection is not None and not connection.is_closed():
                try:
                    await connection.close(timeout=_CLOSE_SECONDS)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                    connection.terminate()

    async def _rows(self, dsn: str, cursor: str | None, context: PollContext) -> Sequence[Any]:
        self._secrets = _dsn_secrets(dsn)
        try:
            statement = await self._prepared(dsn, context)
            parameters = statement.get_parameters()
            if len(parameters) > 1:
                raise SourceError("QueryFailed", f"the query takes {len(parameters)} parameters; only $1 is given")
            arguments = [cursor_parameter(cursor, parameters[0].name)] if parameters else []
            rows: Sequence[Any] = await statement.fetch(*arguments)
        except SourceError:
            raise
        except (TimeoutError, asyncpg.QueryCanceledError):
            raise SourceError("Timeout", f"the query took longer than {context.timeout:g}s") from None
        except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError) as exc:
            raise SourceError("AuthFailed", self._postgres_message(exc)) from None
        except (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError) as exc:
            raise SourceError("Unreachable", self._postgres_message(exc)) from None
        except asyncpg.PostgresError as exc:
            raise SourceError("QueryFailed", self._postgres_message(exc)) from None
        except asyncpg.ClientConfigurationError:
            raise SourceError("BadDsn", f"the DSN in Secret {self._spec.dsn.name} is not usable") from None
        except asyncpg.InterfaceError as exc:
            raise SourceError("Unreachable", f"database connection: {type(exc).__name__}") from None
        except OSError as exc:
            raise SourceError("Unreachable", f"cannot connect to the database: {type(exc).__name__}") from None
        return rows

    async def _prepared(self, dsn: str, context: PollContext) -> Any:
        digest = hashlib.sha256(dsn.encode()).hexdigest()
        timeout_ms = max(1, round(context.timeout * 1000))
        if self._connection is not None and (self._connection.is_closed() or digest != self._dsn_digest):
            self._drop()
        if self._connection is None:
            try:
                target = dsn_for_asyncpg(dsn)
            except ValueError:
                raise SourceError("BadDsn", f"the DSN in Secret {self._spec.dsn.name} is not usable") from None
            try:
                connection = await asyncpg.connect(
                    target,
                    timeout=context.timeout,
                    statement_cache_size=0,
                    server_settings={"statement_timeout": str(timeout_ms), "application_name": "jobwire-sensor"},
                )
            except ValueError:  # a malformed port or the like, found while connecting
                raise SourceError("BadDsn", f"the DSN in Secret {self._spec.dsn.name} is not usable") from None
            try:
                for kind in ("json", "jsonb"):
                    await connection.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            except BaseException:
                connection.terminate()
                raise
            self._connection, self._dsn_digest, self._timeout_ms = connection, digest, timeout_ms
        elif timeout_ms != self._timeout_ms:
            await self._connection.execute("SELECT set_config('statement_timeout', $1, false)", str(timeout_ms))
            self._timeout_ms = timeout_ms
        if self._statement is None:
            statement = await self._connection.prepare(self._spec.query)
            self._check_columns([attribute.name for attribute in statement.get_attributes()])
            self._statement = statement
        return self._statement

    def _check_columns(self, columns: list[str]) -> None:
        for role, column in (("key", self._spec.key_column), ("cursor", self._spec.cursor_column)):
            if column not in columns:
                shown = ", ".join(columns[:20]) or "none"
                raise SourceError("BadResponse", f"the query returns no {role} column {column!r} (columns: {shown})")

    def _result(self, rows: Sequence[Any]) -> PollResult:
        key_column, cursor_column = self._spec.key_column, self._spec.cursor_column
        items: list[Item] = []
        newest: Any = None
        for row in rows:
            data = {name: json_value(value) for name, value in row.items()}
            key = data[key_column]
            items.append(Item(key=fit_key(key if isinstance(key, str) else json.dumps(key)), data=data))
            value = row[cursor_column]
            if value is not None and (newest is None or value > newest):
                newest = value
        cursor = cursor_text(newest) if newest is not None else None
        detail = f"{len(items)} rows" + (f", cursor {cursor}" if cursor is not None else "")
        return PollResult(items=tuple(items), cursor=cursor, detail=detail[:200])

    def _postgres_message(self, exc: asyncpg.PostgresError) -> str:
        sqlstate = getattr(exc, "sqlstate", None) or "?????"
        text = getattr(exc, "message", None) or type(exc).__name__
        return scrub(f"{sqlstate} {text}", self._secrets)

    def _drop(self) -> None:
        connection, self._connection, self._statement = self._connection, None, None
        if connection is not None:
            connection.terminate()


def dsn_for_asyncpg(dsn: str) -> str:
    """A DSN asyncpg reads: URIs as they are; libpq `key=value` strings as the equivalent URI (ValueError if bad)."""
    if dsn.startswith(("postgresql://", "postgres://")):
        return dsn
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(dsn):
        match = _CONNINFO_PAIR.match(dsn, position)
        if match is None:
            if dsn[position:].strip():
                raise ValueError("not a connection string")
            break
        value = match[2]
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        pairs.append((match[1], value))
        position = match.end()
    if not pairs:
        raise ValueError("not a connection string")
    return "postgresql://?" + urlencode(pairs)


def cursor_parameter(cursor: str | None, type_name: str) -> Any:
    """The cursor text as the Python value asyncpg sends for a `$1` of PostgreSQL type `type_name`."""
    if cursor is None or type_name in _TEXT_TYPES:
        return cursor
    try:
        if type_name in _INTEGER_TYPES:
            return int(cursor)
        if type_name in {"float4", "float8"}:
            return float(cursor)
        if type_name == "numeric":
            return Decimal(cursor)
        if type_name in {"timestamptz", "timestamp"}:
            return datetime.fromisoformat(cursor)
        if type_name == "date":
            return date.fromisoformat(cursor)
        if type_name in {"time", "timetz"}:
            return time.fromisoformat(cursor)
        if type_name == "uuid":
            return uuid.UUID(cursor)
        if type_name == "bool":
            return cursor.strip().lower() in {"true", "t", "1", "yes", "on"}
        if type_name in {"json", "jsonb"}:
            return json.loads(cursor)
    except (ValueError, ArithmeticError):
        raise SourceError("BadCursor", f"cursor {cursor[:100]!r} is not a {type_name} for $1") from None
    return cursor


def cursor_text(value: Any) -> str:
    """A cursor-column value as the text stored in status (and read back by `cursor_parameter`)."""
    plain = json_value(value)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    return plain if isinstance(plain, str) else json.dumps(plain)


def json_value(value: Any) -> Any:
    """A value asyncpg returned, as plain JSON: datetimes ISO 8601, decimals, UUIDs and the like as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value.total_seconds())
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, asyncpg.Record):
        return {name: json_value(item) for name, item in value.items()}
    return str(value)


def _dsn_secrets(dsn: str) -> tuple[str, ...]:
    """Texts to scrub from messages: the DSN itself and its password, however written."""
    found = [dsn]
    with contextlib.suppress(ValueError):
        found.append(urlsplit(dsn).password or "")
    found += [match[1].strip("'") for match in re.finditer(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&']+)", dsn)]
    return tuple(text for text in found if text)

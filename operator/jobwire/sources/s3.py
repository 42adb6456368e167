"""S3 source: objects of an S3-compatible bucket that are new since the cursor.

Each poll lists every object under `prefix` (ListObjectsV2, through all pages) and keeps those whose key ends with
`suffix`. S3 lists in key order, not time order, and gives no "changed since", so the cursor records time:

    {"after": "<RFC 3339 time of the newest LastModified seen>", "keys": ["<key>@<etag> of those modified then"]}

An object is new when its LastModified is later than `after`, or equal to it with a key@etag not in `keys`:
objects written within the same second (S3's usual precision) are neither lost nor repeated, and an object
rewritten with other content within that second is new again (its ETag changed). New objects come oldest first;
an item's key is `<object key>@<etag>` and its data `{bucket, key, size, etag, lastModified}`.

Credentials come from Secrets when both `accessKeyId` and `secretAccessKey` are set, else requests are unsigned
(anonymous): the operator's own AWS identity is never used. Neither key ever appears in a message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.session import get_session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from jobwire.api.sensor import S3Source
from jobwire.events.model import format_rfc3339
from jobwire.sources.base import Item, PollContext, PollResult, SourceError, fit_key, scrub, secret_text, time_limit

__all__ = ["S3Cursor", "S3Object", "S3Poller", "format_cursor", "new_objects", "parse_cursor"]

LIST_PAGE_SIZE = 1000
"""Keys per ListObjectsV2 page: S3's own maximum."""

_AUTH_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
}


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str
    last_modified: datetime

    @property
    def identity(self) -> str:
        """This version of the object: its key and content (ETag)."""
        return f"{self.key}@{self.etag}"


@dataclass(frozen=True)
class S3Cursor:
    """Where the last poll stopped: the newest modification time seen, and the keys modified at exactly it."""

    after: datetime | None = None
    keys: frozenset[str] = frozenset()


def parse_cursor(text: str | None) -> S3Cursor:
    """The cursor stored in status; None (first poll) is the empty cursor. SourceError BadCursor if unreadable."""
    if text is None:
        return S3Cursor()
    try:
        document = json.loads(text)
        after = datetime.fromisoformat(document["after"])
        keys = document.get("keys", [])
        if after.tzinfo is None or not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, KeyError):
        raise SourceError("BadCursor", "the stored cursor is not an S3 cursor ({after, keys})") from None
    return S3Cursor(after=after, keys=frozenset(keys))


def format_cursor(cursor: S3Cursor) -> str:
    """The cursor as stored in status: compact JSON, keys sorted so equal cursors read the same."""
    after = format_rfc3339(cursor.after) if cursor.after is not None else None
    return json.dumps({"after": after, "keys": sorted(cursor.keys)}, separators=(",", ":"), ensure_ascii=False)


def new_objects(objects: Iterable[S3Object], cursor: S3Cursor) -> tuple[list[S3Object], S3Cursor]:
    """The objects new since `cursor`, oldest first (then by key), and the cursor that follows them."""
    after = cursor.after
    fresh = [
        item
        for item in objects
        if after is None
        or item.last_modified > after
        or (item.last_modified == after and item.identity not in cursor.keys)
    ]
    if not fresh:
        return [], cursor
    fresh.sort(key=lambda item: (item.last_modified, item.key))
    newest = fresh[-1].last_modified
    at_newest = {item.identity for item in fresh if item.last_modified == newest}
    keys = cursor.keys | at_newest if newest == after else frozenset(at_newest)
    return fresh, S3Cursor(after=newest, keys=frozenset(keys))


def shown_endpoint(endpoint: str | None) -> str:
    """The endpoint without user info, path or query, for messages; AWS's own when none is set."""
    if endpoint is None:
        return "AWS S3"
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


class S3Poller:
    """Polls one S3Source; keeps one S3 client (and its connections) between polls."""

    def __init__(self, spec: S3Source, *, page_size: int = LIST_PAGE_SIZE) -> None:
        self._spec = spec
        self._page_size = page_size
        self._session = get_session()
        self._lock = asyncio.Lock()
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._client_digest = ""
        self._where = f"s3://{spec.bucket}/{spec.prefix}"
        self._endpoint = shown_endpoint(spec.endpoint)

    async def poll(self, cursor: str | None, context: PollContext) -> PollResult:
        state = parse_cursor(cursor)
        async with time_limit(context.timeout, f"listing {self._where}"), self._lock:
            credentials = await self._credentials(context)
            client = await self._client_for(credentials, context.timeout)
            try:
                objects = await self._list(client)
            except ClientError as exc:
                raise self._client_error(exc) from None
            except (ConnectTimeoutError, ReadTimeoutError):
                raise SourceError("Timeout", f"listing {self._where} took longer than {context.timeout:g}s") from None
            except ResponseParserError:
                raise SourceError("BadResponse", f"listing {self._where}: the answer is not an S3 listing") from None
            except EndpointConnectionError:
                raise SourceError("Unreachable", f"listing {self._where}: cannot connect to {self._endpoint}") from None
            except (BotoCoreError, OSError) as exc:
                problem = scrub(str(exc), credentials or ())
                raise SourceError("Unreachable", f"listing {self._where}: {type(exc).__name__}: {problem}") from None
        fresh, following = new_objects(objects, state)
        items = tuple(
            Item(
                key=fit_key(item.identity),
                data={
                    "bucket": self._spec.bucket,
                    "key": item.key,
                    "size": item.size,
                    "etag": item.etag,
                    "lastModified": format_rfc3339(item.last_modified),
                },
            )
            for item in fresh
        )
        return PollResult(
            items=items,
            cursor=format_cursor(following) if fresh else None,
            detail=f"{self._where}: {len(objects)} objects, {len(items)} new",
        )

    async def close(self) -> None:
        async with self._lock:
            await self._close_client()

    async def _credentials(self, context: PollContext) -> tuple[str, str] | None:
        key_ref, secret_ref = self._spec.access_key_id, self._spec.secret_access_key
        if key_ref is None and secret_ref is None:
            return None
        if key_ref is None or secret_ref is None:
            raise SourceError("MissingSecret", "set both accessKeyId and secretAccessKey, or neither (anonymous)")
        return (
            await secret_text(context, key_ref, "accessKeyId"),
            await secret_text(context, secret_ref, "secretAccessKey"),
        )

    async def _client_for(self, credentials: tuple[str, str] | None, seconds: float) -> Any:
        # A new client when the credentials (a rotated Secret) or the timeout change; else the kept one.
        digest = hashlib.sha256(repr((credentials, seconds)).encode()).hexdigest()
        if self._client is not None and digest == self._client_digest:
            return self._client
        await self._close_client()
        spec = self._spec
        config = Config(
            region_name=spec.region,
            signature_version=UNSIGNED if credentials is None else "s3v4",
            s3={"addressing_style": "path" if spec.force_path_style else "virtual"},
            connect_timeout=seconds,
            read_timeout=seconds,
            retries={"mode": "standard", "total_max_attempts": 1},  # the next poll is the retry
            defaults_mode="legacy",  # "auto" would ask the instance metadata service for a region
        )
        stack = AsyncExitStack()
        self._client = await stack.enter_async_context(
            self._session.create_client(
                "s3",
                endpoint_url=spec.endpoint,
                region_name=spec.region,
                aws_access_key_id=credentials[0] if credentials else None,
                aws_secret_access_key=credentials[1] if credentials else None,
                config=config,
            )
        )
        self._stack, self._client_digest = stack, digest
        return self._client

    async def _close_client(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _list(self, client: Any) -> list[S3Object]:
        spec = self._spec
        found: list[S3Object] = []
        token: str | None = None
        while True:
            page = await client.list_objects_v2(
                Bucket=spec.bucket,
                Prefix=spec.prefix,
                MaxKeys=self._page_size,
                **({"ContinuationToken": token} if token else {}),
            )
            for entry in page.get("Contents") or ():
                key = entry["Key"]
                if key.endswith(spec.suffix):
                    etag = str(entry.get("ETag", "")).strip('"')
                    found.append(S3Object(key, int(entry.get("Size", 0)), etag, entry["LastModified"]))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated"):
                return found
            if not token:
                raise SourceError("BadResponse", f"listing {self._where}: a truncated page without a continuation")

    def _client_error(self, exc: ClientError) -> SourceError:
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "Unknown")
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode", "?")
        if code in _AUTH_CODES or status in {401, 403}:
            return SourceError("AuthFailed", f"listing {self._where}: {code} (HTTP {status})")
        if code.isdigit():  # no S3 error document (botocore also reports an unreadable 200 listing as a 500)
            return SourceError("BadStatus", f"listing {self._where}: {self._endpoint} gave no S3 listing (HTTP {code})")
        if code == "NoSuchBucket":
            return SourceError("BadStatus", f"bucket {self._spec.bucket} does not exist (HTTP {status})")
        return SourceError("BadStatus", f"listing {self._where}: {code} (HTTP {status})")

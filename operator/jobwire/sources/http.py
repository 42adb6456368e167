"""HTTP source: request a URL, read the JSON answer, and take items (or a condition) from it with CEL.

- `items` + `key`: `items` (CEL over `response`) gives a list; each element is an item whose key is `key` (CEL over
  `item`). Every poll returns the whole list in order: the engine remembers keys, so it fires only for new ones.
- `condition` (CEL over `response`) gives a bool; the engine fires on its false → true edge. No items.

The answer must be JSON (a HEAD request, having no body, reads as `response == null`), with a status in
`expectedStatus` (default any 2xx). Messages name the method, scheme, host and path of the URL only: its user info
and query may hold credentials, and header values are never shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from jobwire.api.sensor import HttpSource
from jobwire.cel import json_ready
from jobwire.sources.base import (
    HttpClients,
    Item,
    PollContext,
    PollResult,
    SourceError,
    condition_value,
    expression_value,
    item_key,
    one_line,
    scrub,
    secret_text,
    time_limit,
)

__all__ = ["HttpPoller", "shown_url"]


class HttpPoller:
    """Polls one HttpSource; keeps one HTTP client (and its connections) between polls."""

    def __init__(self, spec: HttpSource) -> None:
        self._spec = spec
        self._clients = HttpClients()
        self._where = f"{spec.method} {shown_url(spec.url)}"

    async def poll(self, cursor: str | None, context: PollContext) -> PollResult:
        spec = self._spec
        async with time_limit(context.timeout, self._where):
            headers = await self._headers(context)
            response = await self._request(self._clients.client_for(context), headers, context.timeout)
        self._check_status(response)
        document = self._document(response)
        if spec.condition is not None:
            value = condition_value(spec.condition, {"response": document})
            return PollResult(condition=value, detail=f"{self._where}: {response.status}, condition {value}")
        # The model's rules: items and key go together.
        assert spec.items is not None
        assert spec.key is not None
        found = expression_value(spec.items, {"response": document})
        if not isinstance(found, list):
            raise SourceError("ExpressionFailed", f"expression `{one_line(spec.items, 120)}` gave no list")
        items = tuple(Item(key=item_key(spec.key, {"item": element}), data=json_ready(element)) for element in found)
        return PollResult(items=items, detail=f"{self._where}: {response.status}, {len(items)} items")

    async def close(self) -> None:
        await self._clients.close()

    async def _headers(self, context: PollContext) -> dict[str, str]:
        headers: dict[str, str] = {}
        for header in self._spec.headers or ():
            if header.secret_ref is not None:
                headers[header.name] = await secret_text(context, header.secret_ref, f"header {header.name}")
            else:
                headers[header.name] = header.value or ""
        return headers

    async def _request(self, client: aiohttp.ClientSession, headers: dict[str, str], seconds: float) -> Answer:
        spec = self._spec
        try:
            async with client.request(
                spec.method,
                spec.url,
                headers=headers,
                data=spec.body.encode("utf-8") if spec.body is not None else None,
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=False,
            ) as response:
                return Answer(
                    status=response.status,
                    reason=response.reason or "",
                    content_type=response.content_type,
                    content=await response.read(),
                )
        except TimeoutError:
            raise SourceError("Timeout", f"{self._where} took longer than {seconds:g}s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            # Some errors (an illegal header value) quote what they choked on: scrub every header value and the URL.
            problem = scrub(str(exc), [*headers.values(), spec.url])
            raise SourceError("Unreachable", f"{self._where}: {type(exc).__name__}: {problem}") from None

    def _check_status(self, response: Answer) -> None:
        expected = self._spec.expected_status
        status = response.status
        if (status not in expected) if expected else not 200 <= status < 300:
            wanted = ", ".join(str(code) for code in expected) if expected else "2xx"
            raise SourceError(
                "BadStatus", f"{self._where} answered {status} {response.reason}, expected {wanted}".strip()
            )

    def _document(self, response: Answer) -> Any:
        if self._spec.method == "HEAD" or (not response.content and response.status == 204):
            return None
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            kind = response.content_type or "no content type"
            raise SourceError(
                "BadResponse", f"{self._where} answered {len(response.content)} bytes of {kind}, not JSON"
            ) from None


@dataclass(frozen=True)
class Answer:
    """What the server answered, read whole."""

    status: int
    reason: str
    content_type: str
    content: bytes


def shown_url(url: str) -> str:
    """The URL without user info, query and fragment: the parts safe to show."""
    try:
        parsed = yarl.URL(url)
    except (ValueError, TypeError):
        return "<invalid URL>"
    port = f":{parsed.explicit_port}" if parsed.explicit_port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"

"""Prometheus source: a PromQL instant query, and a condition over its result.

Each poll asks `GET <url>/api/v1/query?query=<query>`. On success, `result` (what the condition sees) is the
answer's `data`: `{"resultType": "vector", "result": [{"metric": {...}, "value": [<time>, "<value>"]}, ...]}`
(values are strings, as Prometheus writes them: `double(result.result[0].value[1]) > 0.5`). The condition must give
a bool; the engine fires on its false → true edge. Prometheus's own errors (a bad query, a timeout on its side)
become BadResponse with Prometheus's error text.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import yarl

from jobwire.api.sensor import PrometheusSource
from jobwire.sources.base import (
    HttpClients,
    PollContext,
    PollResult,
    SourceError,
    condition_value,
    one_line,
    time_limit,
)

__all__ = ["PrometheusPoller", "query_url"]


def query_url(base: str) -> str:
    """The instant-query endpoint under a Prometheus base URL (which may carry a path prefix)."""
    return base.rstrip("/") + "/api/v1/query"


class PrometheusPoller:
    """Polls one PrometheusSource; keeps one HTTP client between polls."""

    def __init__(self, spec: PrometheusSource) -> None:
        self._spec = spec
        self._clients = HttpClients()
        parsed = yarl.URL(spec.url)
        port = f":{parsed.explicit_port}" if parsed.explicit_port is not None else ""
        self._where = f"Prometheus at {parsed.scheme}://{parsed.host}{port}{parsed.path}"

    async def poll(self, cursor: str | None, context: PollContext) -> PollResult:
        async with time_limit(context.timeout, f"the query to {self._where}"):
            answer = await self._query(self._clients.client_for(context), context.timeout)
        data = answer.get("data")
        if not isinstance(data, dict) or "resultType" not in data:
            raise SourceError("BadResponse", f"{self._where} answered success without data")
        result = {"resultType": data["resultType"], "result": data.get("result")}
        value = condition_value(self._spec.condition, {"result": result})
        found = result["result"]
        size = f"{len(found)} series" if isinstance(found, list) else str(result["resultType"])
        return PollResult(condition=value, detail=f"{result['resultType']} of {size}, condition {value}")

    async def close(self) -> None:
        await self._clients.close()

    async def _query(self, client: aiohttp.ClientSession, seconds: float) -> dict[str, Any]:
        try:
            async with client.get(
                query_url(self._spec.url),
                params={"query": self._spec.query},
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=False,
            ) as response:
                status, content = response.status, await response.read()
        except TimeoutError:
            raise SourceError("Timeout", f"the query to {self._where} took longer than {seconds:g}s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise SourceError("Unreachable", f"{self._where}: {type(exc).__name__}") from None
        try:
            answer = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise SourceError(
                "BadResponse", f"{self._where} answered {status} without JSON (is it Prometheus?)"
            ) from None
        if not isinstance(answer, dict):
            raise SourceError("BadResponse", f"{self._where} answered {status} with no JSON object")
        if answer.get("status") != "success":
            kind = answer.get("errorType") or f"HTTP {status}"
            error = answer.get("error") or "no error text"
            raise SourceError("BadResponse", f"{self._where}: {kind}: {one_line(str(error), 300)}")
        return answer

"""SecretReader on the real API server: values cached, re-read when asked, and one read shared by requests that
find the cache expired at the same moment."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from jobwire.kube.api import JSON, Kube, core_path
from jobwire.kube.errors import NotFound
from jobwire.kube.secrets import MissingSecret, SecretReader
from tests.support.servers import kube

pytestmark = pytest.mark.cluster
__all__ = ["kube"]  # fixtures used by this module


class CountingKube(Kube):
    """The real client, counting the reads that reach the API server."""

    def __init__(self, real: Kube) -> None:
        super().__init__(real.api)
        self.gets = 0

    async def get(self, path: str, query: dict[str, str] | None = None) -> JSON:
        self.gets += 1
        return await super().get(path, query)


async def put_secret(kube: Kube, namespace: str, value: str) -> None:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hook"},
        "data": {"token": base64.b64encode(value.encode()).decode()},
    }
    try:
        current = await kube.get(core_path(namespace, "secrets", "hook"))
    except NotFound:
        await kube.create(core_path(namespace, "secrets"), body)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await kube.replace(core_path(namespace, "secrets", "hook"), body)


async def test_requests_that_find_the_value_missing_together_share_one_read(kube: Kube, namespace: str) -> None:
    await put_secret(kube, namespace, "one")
    counting = CountingKube(kube)
    reader = SecretReader(counting, ttl_seconds=3600)

    values = await asyncio.gather(*(reader.value(namespace, "hook", "token") for _ in range(32)))

    assert values == [b"one"] * 32
    assert counting.gets == 1


async def test_a_cached_value_is_served_until_a_fresh_read_is_asked_for(kube: Kube, namespace: str) -> None:
    await put_secret(kube, namespace, "one")
    counting = CountingKube(kube)
    reader = SecretReader(counting, ttl_seconds=3600)
    assert await reader.value(namespace, "hook", "token") == b"one"

    await put_secret(kube, namespace, "two")  # rotated

    assert await reader.value(namespace, "hook", "token") == b"one"
    assert await reader.value(namespace, "hook", "token", fresh=True) == b"two"
    assert await reader.value(namespace, "hook", "token") == b"two"
    assert counting.gets == 2


async def test_a_missing_secret_reaches_every_waiting_request(kube: Kube, namespace: str) -> None:
    reader = SecretReader(CountingKube(kube))

    outcomes = await asyncio.gather(
        *(reader.value(namespace, "absent", "token") for _ in range(4)), return_exceptions=True
    )

    assert [type(outcome) for outcome in outcomes] == [MissingSecret] * 4
    assert all(f"Secret {namespace}/absent not found" == str(outcome) for outcome in outcomes)


async def test_a_cancelled_request_does_not_cancel_the_read_others_wait_for(kube: Kube, namespace: str) -> None:
    await put_secret(kube, namespace, "one")
    counting = CountingKube(kube)
    reader = SecretReader(counting)
    first = asyncio.create_task(reader.value(namespace, "hook", "token"))
    second = asyncio.create_task(reader.value(namespace, "hook", "token"))
    await asyncio.sleep(0)  # both are waiting on the one read now
    first.cancel()

    assert await second == b"one"
    assert first.cancelled()
    assert counting.gets == 1

"""StatusWriter on the real API server: a busy resource's next write starts from the object its last write stored
(no GET before each PUT), and a write by someone else meanwhile is neither lost nor overwritten: the stale start
is refused (409) and the write begins again from a fresh read."""

from __future__ import annotations

import pytest

from jobwire.kube.api import JSON, Kube, jobwire_path
from jobwire.kube.status import RECENT_SECONDS, StatusChange, StatusWriter
from tests.support.servers import kube

pytestmark = pytest.mark.cluster
__all__ = ["kube"]  # fixtures used by this module


class CountingKube(Kube):
    """The real client, counting the reads and writes that reach the API server."""

    def __init__(self, real: Kube) -> None:
        super().__init__(real.api)
        self.gets = 0
        self.puts = 0

    async def get(self, path: str, query: dict[str, str] | None = None) -> JSON:
        self.gets += 1
        return await super().get(path, query)

    async def replace(self, path: str, body: JSON) -> JSON:
        self.puts += 1
        return await super().replace(path, body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def a_webhook(kube: Kube, namespace: str) -> str:
    await kube.create(
        jobwire_path("webhooks", namespace),
        {
            "apiVersion": "jobwire.io/v1alpha1",
            "kind": "Webhook",
            "metadata": {"name": "busy"},
            "spec": {"auth": {"type": "none"}},
        },
    )
    return jobwire_path("webhooks", namespace, "busy")


def adding(key: str, value: int) -> StatusChange:
    return lambda status: {**status, "counters": {**(status.get("counters") or {}), key: value}}


def counted(status: JSON | None) -> dict[str, int]:
    """The counters a test set (the CRD's schema defaults the others to 0)."""
    return {key: n for key, n in ((status or {}).get("counters") or {}).items() if n}


async def test_a_second_write_starts_from_what_the_first_stored(kube: Kube, namespace: str) -> None:
    path = await a_webhook(kube, namespace)
    counting, clock = CountingKube(kube), Clock()
    writer = StatusWriter(counting, monotonic=clock)

    await writer.update("webhooks", namespace, "busy", adding("received", 1))
    clock.now += RECENT_SECONDS / 2
    second = await writer.update("webhooks", namespace, "busy", adding("accepted", 1))

    assert (counting.gets, counting.puts) == (1, 2)
    assert counted(second) == {"received": 1, "accepted": 1}
    assert (await kube.get(path))["status"] == second

    clock.now += RECENT_SECONDS * 2  # long since: read again
    await writer.update("webhooks", namespace, "busy", adding("filtered", 1))
    assert (counting.gets, counting.puts) == (2, 3)


async def test_a_write_by_someone_else_meanwhile_is_kept_and_the_change_applied_to_it(
    kube: Kube, namespace: str
) -> None:
    path = await a_webhook(kube, namespace)
    counting = CountingKube(kube)
    writer = StatusWriter(counting)
    await writer.update("webhooks", namespace, "busy", adding("received", 1))

    body = await kube.get(path)  # a person, or another replica, writes the status meanwhile
    body["status"]["url"] = "/written/by/someone/else"
    await kube.replace(path + "/status", body)
    result = await writer.update("webhooks", namespace, "busy", adding("accepted", 1))

    assert counted(result) == {"received": 1, "accepted": 1}
    assert (result or {})["url"] == "/written/by/someone/else"
    assert (await kube.get(path))["status"] == result
    assert (counting.gets, counting.puts) == (2, 3)  # the stale start refused (409), then read again and written


async def test_what_a_caller_does_with_the_answer_does_not_reach_the_next_write(kube: Kube, namespace: str) -> None:
    path = await a_webhook(kube, namespace)
    writer = StatusWriter(kube)
    answer = await writer.update("webhooks", namespace, "busy", adding("received", 1))
    assert answer is not None
    answer["counters"]["received"] = 999  # a careless caller

    await writer.update("webhooks", namespace, "busy", adding("accepted", 1))

    assert counted((await kube.get(path))["status"]) == {"received": 1, "accepted": 1}


async def test_a_change_with_nothing_to_do_on_the_kept_object_is_judged_on_the_current_one(
    kube: Kube, namespace: str
) -> None:
    """The leader takes out of `status.forwarded` what a follower put there after the leader's last write: on the
    object the leader kept, there is nothing to take out — and without a PUT, no 409 would say so."""
    path = await a_webhook(kube, namespace)
    counting = CountingKube(kube)
    writer = StatusWriter(counting)
    await writer.update("webhooks", namespace, "busy", adding("received", 1))

    body = await kube.get(path)  # the follower's write
    body["status"]["url"] = "/forwarded/by/the/follower"
    await kube.replace(path + "/status", body)

    def taking_out(status: JSON) -> JSON:
        return {key: value for key, value in status.items() if key != "url"}

    result = await writer.update("webhooks", namespace, "busy", taking_out)

    assert "url" not in (result or {})
    assert "url" not in (await kube.get(path))["status"]
    assert (counting.gets, counting.puts) == (2, 2)  # read again, and written

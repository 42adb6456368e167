"""StatusWriter: a writer cancelled in the middle of a write does not strand the changes queued behind it."""

from __future__ import annotations

import asyncio
from typing import Any

from jobwire.kube.api import JSON, Kube
from jobwire.kube.status import StatusWriter


class SlowKube:
    """One object in memory; each write waits until the test lets it through."""

    def __init__(self) -> None:
        self.body: JSON = {"metadata": {"name": "s"}, "status": {}}
        self.gate = asyncio.Event()
        self.writing = asyncio.Event()

    async def get(self, path: str, query: dict[str, str] | None = None) -> JSON:
        return {**self.body, "status": dict(self.body["status"])}

    async def replace(self, path: str, body: JSON) -> JSON:
        self.writing.set()
        await self.gate.wait()
        self.body = body
        return body


async def next_turn() -> None:
    """Let the tasks already scheduled take their next step (one turn of the event loop)."""
    loop = asyncio.get_running_loop()
    turn = loop.create_future()
    loop.call_soon(turn.set_result, None)
    await turn


def setting(key: str) -> Any:
    return lambda status: {**status, key: True}


async def test_changes_queued_behind_a_cancelled_writer_are_still_written() -> None:
    kube = SlowKube()
    writer = StatusWriter(kube)  # type: ignore[arg-type]  # the two calls StatusWriter makes, in memory
    assert not isinstance(kube, Kube)
    first = asyncio.create_task(writer.update("sensors", "ns", "s", setting("first")))
    await kube.writing.wait()  # the first caller is writing; the next change queues behind it
    second = asyncio.create_task(writer.update("sensors", "ns", "s", setting("second")))
    await next_turn()
    first.cancel()  # as at shutdown: the poll that was writing is cancelled
    kube.gate.set()
    result = await asyncio.wait_for(second, timeout=5)
    await asyncio.gather(first, return_exceptions=True)
    assert result is not None
    assert result["second"] is True
    assert kube.body["status"]["second"] is True
    assert first.cancelled()


async def test_hurry_ends_the_linger_of_that_kind_only() -> None:
    kube = SlowKube()
    kube.gate.set()
    writer = StatusWriter(kube)  # type: ignore[arg-type]  # the two calls StatusWriter makes, in memory
    quiet = asyncio.create_task(writer.update("sensors", "ns", "s", setting("quiet"), linger=3600))
    other = asyncio.create_task(writer.update("webhooks", "ns", "w", setting("other"), linger=3600))
    await next_turn()
    writer.hurry("sensors")
    result = await asyncio.wait_for(quiet, timeout=5)  # without hurry() it would wait an hour
    assert result is not None
    assert result["quiet"] is True
    assert not other.done()
    other.cancel()
    await asyncio.gather(other, return_exceptions=True)


class CountingKube(SlowKube):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[JSON] = []

    async def replace(self, path: str, body: JSON) -> JSON:
        stored = await super().replace(path, body)
        self.writes.append(dict(stored["status"]))
        return stored


async def test_changes_made_during_a_write_wait_out_a_linger_of_their_own_and_share_one_write() -> None:
    kube = CountingKube()
    writer = StatusWriter(kube)  # type: ignore[arg-type]  # the two calls StatusWriter makes, in memory
    first = asyncio.create_task(writer.update("webhooks", "ns", "w", setting("first"), linger=3600))
    await next_turn()
    urgent = asyncio.create_task(writer.update("webhooks", "ns", "w", setting("urgent")))  # ends the linger
    await kube.writing.wait()  # the first write is under way; it waits at the gate
    during = asyncio.create_task(writer.update("webhooks", "ns", "w", setting("during"), linger=3600))
    await next_turn()
    kube.gate.set()

    assert (await asyncio.wait_for(first, timeout=5) or {}).get("first") is True  # answered after its own write
    after = asyncio.create_task(writer.update("webhooks", "ns", "w", setting("after"), linger=3600))
    for _ in range(5):
        await next_turn()
    assert kube.writes == [{"first": True, "urgent": True}]  # the next batch lingers and gathers what comes
    last = asyncio.create_task(writer.update("webhooks", "ns", "w", setting("last")))  # urgent again
    results = await asyncio.wait_for(asyncio.gather(urgent, during, after, last), timeout=5)

    everything = {"first": True, "urgent": True, "during": True, "after": True, "last": True}
    assert kube.writes == [{"first": True, "urgent": True}, everything]
    assert list(results[1:]) == [everything] * 3


async def test_after_hurry_no_write_of_that_kind_lingers_again() -> None:
    kube = CountingKube()
    kube.gate.set()
    writer = StatusWriter(kube)  # type: ignore[arg-type]  # the two calls StatusWriter makes, in memory
    writer.hurry("sensors")  # a clean stop began

    result = await asyncio.wait_for(writer.update("sensors", "ns", "s", setting("late"), linger=3600), timeout=5)

    assert result is not None
    assert result["late"] is True


def appending(item: str) -> Any:
    return lambda status: {**status, "order": [*status.get("order", []), item]}


async def test_a_submitted_change_is_written_without_its_caller_waiting_and_in_the_order_of_the_calls() -> None:
    kube = CountingKube()
    writer = StatusWriter(kube)  # type: ignore[arg-type]  # the two calls StatusWriter makes, in memory

    first = writer.submit("webhooks", "ns", "w", appending("first"), linger=3600)  # returns with nothing written
    second = writer.submit("webhooks", "ns", "w", appending("second"), linger=3600)
    third = asyncio.create_task(writer.update("webhooks", "ns", "w", appending("third")))  # ends the linger
    await kube.writing.wait()
    assert not first.done()  # the write is under way, held at the gate
    kube.gate.set()

    assert await asyncio.wait_for(third, timeout=5) == {"order": ["first", "second", "third"]}
    assert await first == await second == {"order": ["first", "second", "third"]}
    assert kube.writes == [{"order": ["first", "second", "third"]}]  # one write for the three, in their order


async def test_a_failed_submitted_write_is_told_by_its_future() -> None:
    class Refusing(CountingKube):
        async def replace(self, path: str, body: JSON) -> JSON:
            raise RuntimeError("API server down")

    writer = StatusWriter(Refusing())  # type: ignore[arg-type]  # the two calls StatusWriter makes, in memory
    outcome = writer.submit("webhooks", "ns", "w", appending("lost"))

    await asyncio.wait_for(asyncio.wait([outcome]), timeout=5)
    assert isinstance(outcome.exception(), RuntimeError)


class Clock:
    """The writer's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_spaced_change_waits_until_the_spacing_after_the_last_write_has_passed() -> None:
    kube, clock = CountingKube(), Clock()
    kube.gate.set()
    writer = StatusWriter(kube, monotonic=clock)  # type: ignore[arg-type]  # the two calls StatusWriter makes
    await writer.update("webhooks", "ns", "w", appending("first"), spacing=3600)  # nothing written before: at once

    clock.now += 1  # an hour has not passed: the next spaced changes wait, together
    second = writer.submit("webhooks", "ns", "w", appending("second"), spacing=3600)
    third = writer.submit("webhooks", "ns", "w", appending("third"), spacing=3600)
    for _ in range(5):
        await next_turn()
    assert not second.done()
    assert kube.writes == [{"order": ["first"]}]

    urgent = await asyncio.wait_for(writer.update("webhooks", "ns", "w", appending("urgent")), timeout=5)
    assert urgent == {"order": ["first", "second", "third", "urgent"]}
    assert await second == await third == urgent
    assert len(kube.writes) == 2  # the three waiting changes in one write


async def test_spacing_does_not_hold_a_write_when_the_last_one_was_long_ago() -> None:
    kube, clock = CountingKube(), Clock()
    kube.gate.set()
    writer = StatusWriter(kube, monotonic=clock)  # type: ignore[arg-type]  # the two calls StatusWriter makes
    await writer.update("webhooks", "ns", "w", appending("first"), spacing=60)

    clock.now += 61
    result = await asyncio.wait_for(writer.update("webhooks", "ns", "w", appending("later"), spacing=60), timeout=5)

    assert result == {"order": ["first", "later"]}


async def test_hurry_ends_the_wait_of_a_spaced_change() -> None:
    kube, clock = CountingKube(), Clock()
    kube.gate.set()
    writer = StatusWriter(kube, monotonic=clock)  # type: ignore[arg-type]  # the two calls StatusWriter makes
    await writer.update("webhooks", "ns", "w", appending("first"))
    waiting = writer.submit("webhooks", "ns", "w", appending("spaced"), spacing=3600)
    await next_turn()

    writer.hurry("webhooks")  # a clean stop began

    assert await asyncio.wait_for(waiting, timeout=5) == {"order": ["first", "spaced"]}


async def test_a_change_with_nothing_to_do_on_the_kept_object_reads_the_current_one() -> None:
    kube = CountingKube()
    kube.gate.set()
    writer = StatusWriter(kube)  # type: ignore[arg-type]  # the two calls StatusWriter makes
    await writer.update("webhooks", "ns", "w", appending("first"))
    kube.body = {**kube.body, "status": {"order": ["first", "someone else's"]}}  # written by another meanwhile

    result = await writer.update("webhooks", "ns", "w", lambda s: {**s, "order": s["order"][:1]})

    assert result == {"order": ["first"]}
    assert kube.body["status"] == {"order": ["first"]}

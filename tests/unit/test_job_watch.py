"""JobWatch's hand-off: the events of one Job reach the feed one after another, in order, whatever the feed's
pace; other Jobs' events do not wait for them; an event that fails does not stop the next one."""

from __future__ import annotations

import asyncio

from jobwire.jobs.watch import JobWatch
from jobwire.kube.api import JSON, Kube


def event(kind: str, uid: str, n: int) -> JSON:
    return {"type": kind, "object": {"metadata": {"uid": uid, "name": f"{uid}-{n}", "namespace": "ns"}}}


async def test_one_jobs_events_are_fed_in_order_and_others_do_not_wait_for_them() -> None:
    slow = asyncio.Event()
    fed: list[str] = []

    async def feed(e: JSON) -> None:
        name = e["object"]["metadata"]["name"]
        if name == "a-1":
            await slow.wait()  # the first event of Job a takes its time
        if name == "a-3":
            raise RuntimeError("this one fails")
        fed.append(name)

    watch = JobWatch(Kube.__new__(Kube), ["ns"], feed, limit=8)  # no API calls: only the hand-off is used
    for e in (event("ADDED", "a", 1), event("MODIFIED", "a", 2), event("ADDED", "b", 1), event("MODIFIED", "a", 3)):
        await watch._dispatch(e)
    await watch._dispatch(event("DELETED", "a", 4))
    for _ in range(10):
        await asyncio.sleep(0)  # turns of the event loop, no time
    assert fed == ["b-1"]  # Job b did not wait for Job a

    slow.set()
    await asyncio.wait_for(asyncio.gather(*watch._tasks), timeout=5)
    assert fed == ["b-1", "a-1", "a-2", "a-4"]  # a in order; its failing third event did not stop the fourth
    assert not watch._last  # nothing left behind


async def test_a_full_house_makes_the_watch_wait() -> None:
    gate = asyncio.Event()

    async def feed(e: JSON) -> None:
        await gate.wait()

    watch = JobWatch(Kube.__new__(Kube), ["ns"], feed, limit=2)
    await watch._dispatch(event("ADDED", "a", 1))
    await watch._dispatch(event("ADDED", "b", 1))
    third = asyncio.create_task(watch._dispatch(event("ADDED", "c", 1)))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not third.done()  # two in hand: the third waits, and the stream behind it
    gate.set()
    await asyncio.wait_for(third, timeout=5)
    await asyncio.wait_for(asyncio.gather(*watch._tasks), timeout=5)

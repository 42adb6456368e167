"""Jobwire's own watch of its Jobs on the real API server: listed first, then watched; only Jobwire's Jobs; every
event of a Job in order; a Job larger than aiohttp's line limit; a resourceVersion too old to watch from (410)
makes it list again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from jobwire.jobs.watch import Expired, JobWatch
from jobwire.kube.api import JSON, Kube, jobs_path
from tests.support.servers import kube

pytestmark = pytest.mark.cluster
WAIT_SECONDS = 20.0
__all__ = ["kube"]  # fixtures used by this module


def job(name: str, *, labelled: bool = True, annotations: dict[str, str] | None = None) -> JSON:
    labels = {"jobwire.io/kind": "Webhook", "jobwire.io/name": "hook"} if labelled else {"app": "other"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
        "spec": {
            "suspend": True,  # no Pods: the Job's events are ours alone
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}},
        },
    }


class Fed:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def __call__(self, event: JSON) -> None:
        self.events.append((event["type"], event["object"]["metadata"]["name"]))
        self.changed.set()

    async def until(self, check: Callable[[list[tuple[str, str]]], bool]) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while not check(self.events):
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def running(watch: JobWatch) -> AsyncIterator[JobWatch]:
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_jobwires_jobs_are_listed_then_watched_every_event_of_a_job_in_order(kube: Kube, namespace: str) -> None:
    for name in ("before-1", "before-2"):
        await kube.create(jobs_path(namespace), job(name))
    await kube.create(jobs_path(namespace), job("not-ours-1", labelled=False))
    fed = Fed()
    async with running(JobWatch(kube, [namespace], fed)) as watch:
        await fed.until(lambda events: len(events) >= 2)
        await kube.create(jobs_path(namespace), job("after"))
        await kube.create(jobs_path(namespace), job("not-ours-2", labelled=False))
        await kube.merge_patch(jobs_path(namespace, "after"), {"metadata": {"annotations": {"touched": "yes"}}})
        await kube.delete(jobs_path(namespace, "after"))
        await fed.until(lambda events: ("DELETED", "after") in events)

    assert sorted(fed.events[:2]) == [("ADDED", "before-1"), ("ADDED", "before-2")]  # the listing
    after = [kind for kind, name in fed.events if name == "after"]
    assert after[0] == "ADDED"
    assert after[-1] == "DELETED"
    assert "MODIFIED" in after
    assert not [name for _, name in fed.events if name.startswith("not-ours")]
    assert watch.listings == 1


async def test_a_job_larger_than_aiohttps_line_limit_comes_through(kube: Kube, namespace: str) -> None:
    big = "x" * 200_000  # one watch line of about 200 kB; aiohttp's own line reader stops at 128 kB
    fed = Fed()
    async with running(JobWatch(kube, [namespace], fed)):
        await kube.create(jobs_path(namespace), job("big", annotations={"payload": big}))
        await fed.until(lambda events: ("ADDED", "big") in events)  # by the listing, or by the watch
        await kube.merge_patch(jobs_path(namespace, "big"), {"metadata": {"labels": {"touched": "yes"}}})
        await fed.until(lambda events: ("MODIFIED", "big") in events)  # a change comes by the watch alone


async def test_a_resource_version_too_old_to_watch_from_makes_it_list_again(kube: Kube, namespace: str) -> None:
    """The API server answers 410 Gone to a watch from a version etcd has compacted away. Compaction cannot be
    had on demand here (the API server runs it every 5 minutes), so the first watch's answer is that 410, as a
    FAKE; the listings before and after it, and the watch after it, are the real API server's."""
    await kube.create(jobs_path(namespace), job("old"))

    class CompactedOnce(JobWatch):
        async def _watch(self, path: str, version: str) -> str:
            if self.listings == 1:
                raise Expired(f"too old resource version: {version}")
            return await super()._watch(path, version)

    fed = Fed()
    async with running(CompactedOnce(kube, [namespace], fed)) as watch:
        await fed.until(lambda events: events.count(("ADDED", "old")) == 2)  # listed, then listed again
        await kube.create(jobs_path(namespace), job("new"))
        await fed.until(lambda events: ("ADDED", "new") in events)  # and watched from the new listing
    assert watch.listings == 2

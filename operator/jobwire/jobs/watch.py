"""The Jobs Jobwire created, listed and then watched: each event goes to the tracker (through the leadership gate).

Jobwire's own watch, not Kopf's: Kopf handles each event with machinery built for stateful handlers (a worker per
object, a Body, a Patch, a logger, causes), about 0.3 ms of CPU per Job in a busy operator — a third of what a
webhook request costs it (benchmarks/RESULTS.md). Here an event costs its decoding (orjson) and one task.

What a watch must do, and this one does: list first (page by page) and watch from the listing's resourceVersion;
take bookmarks; when the stream ends, watch again from the last version seen; when that version is too old (410
Gone), list again — the tracker is idempotent, so what it is fed twice changes nothing; when the API server cannot
be reached, try again after a growing delay. The events of one Job are handled one after another, in the order
the API server sent them; those of different Jobs, at the same time, at most `limit` at once (a full house makes
the watch wait: the API server's stream waits with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from jobwire.kube.api import JSON, Kube
from jobwire.kube.errors import KubeError

__all__ = ["JOB_SELECTOR", "JobWatch"]

log = logging.getLogger(__name__)

JOB_SELECTOR = "jobwire.io/kind"
"""Jobwire's Jobs, as the API server selects them: every other Job in the cluster is neither encoded nor read."""
PAGE = 500
SERVER_TIMEOUT_SECONDS = 300
"""How long the API server keeps one watch open; the next one starts from where it ended."""
READ_TIMEOUT_SECONDS = 330.0
"""No byte for that long (not even a bookmark): the connection is taken for dead, and the watch starts again."""
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)

Feed = Callable[[JSON], Awaitable[None]]
"""Takes one watch event: {"type": "ADDED" | "MODIFIED" | "DELETED", "object": the Job}."""


class Expired(Exception):
    """The resourceVersion to watch from is older than the API server keeps: list again."""


class JobWatch:
    def __init__(
        self,
        kube: Kube,
        namespaces: Sequence[str],
        feed: Feed,
        *,
        limit: int = 256,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        """`namespaces`: those watched; none means the whole cluster."""
        self._kube = kube
        self._paths = (
            [f"/apis/batch/v1/namespaces/{namespace}/jobs" for namespace in namespaces]
            if namespaces
            else ["/apis/batch/v1/jobs"]
        )
        self._feed = feed
        self._room = asyncio.Semaphore(limit)
        self._retry_delays = tuple(retry_delays)
        self._last: dict[str, asyncio.Task[None]] = {}
        """The newest task of each Job (by uid): the next event of that Job waits for it."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.listings = 0
        """How many times a path was listed (the first time, and after each 410): for tests and logs."""

    async def run(self) -> None:
        """Until cancelled; the events being handled then are cancelled with it."""
        try:
            await asyncio.gather(*(self._follow(path) for path in self._paths))
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _follow(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        version: str | None = None
        failures = 0
        while True:
            problem: str | None = None
            try:
                if version is None:
                    version = await self._list(path)
                began = loop.time()
                ended = await self._watch(path, version)
                if ended == version and loop.time() - began < 1.0:
                    problem = "the API server ended the watch at once"  # not again right away
                version = ended
            except Exception as exc:  # whatever it is, the watch goes on: without it no Job would be tracked
                if isinstance(exc, Expired) or (isinstance(exc, KubeError) and exc.status == 410):
                    log.info("watch of Jobs at %s: %s; listing them again", path, exc)
                    version = None
                    continue
                problem = str(exc) if isinstance(exc, KubeError) else f"{type(exc).__name__}: {exc}"
            if problem is None:
                failures = 0
                continue
            delay = self._retry_delays[min(failures, len(self._retry_delays) - 1)]
            failures += 1
            log.warning("watch of Jobs at %s: %s; again in %ss", path, problem, delay)
            await asyncio.sleep(delay)

    async def _list(self, path: str) -> str:
        """Every Job at `path`, fed as ADDED; returns the listing's resourceVersion."""
        self.listings += 1
        query = {"labelSelector": JOB_SELECTOR, "limit": str(PAGE)}
        while True:
            page = await self._kube.get(path, query)
            for job in page.get("items") or []:
                await self._dispatch({"type": "ADDED", "object": job})
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                return str(metadata.get("resourceVersion") or "")
            query["continue"] = token

    async def _watch(self, path: str, version: str) -> str:
        """Feed the events after `version` until the API server ends the stream; returns the last version seen."""
        query = {
            "labelSelector": JOB_SELECTOR,
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(SERVER_TIMEOUT_SECONDS),
        }
        async for event in self._kube.watch(path, query, read_timeout=READ_TIMEOUT_SECONDS):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Expired(obj.get("message") or "resourceVersion too old")
                raise KubeError(f"watch error: {obj.get('message') or obj}", status=obj.get("code"))
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                await self._dispatch(event)
        return version

    async def _dispatch(self, event: JSON) -> None:
        """Hand `event` to `feed` in a task of its own, after the earlier events of the same Job."""
        await self._room.acquire()
        uid = str(((event.get("object") or {}).get("metadata") or {}).get("uid") or "")
        task = asyncio.create_task(self._handle(self._last.get(uid), event))
        self._last[uid] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(uid, done))

    async def _handle(self, before: asyncio.Task[None] | None, event: JSON) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])  # its outcome is its own; only the order matters here
            await self._feed(event)
        except Exception:
            meta = (event.get("object") or {}).get("metadata") or {}
            log.exception(
                "the %s event of Job %s/%s failed", event.get("type"), meta.get("namespace"), meta.get("name")
            )
        finally:
            self._room.release()

    def _done(self, uid: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last.get(uid) is task:
            del self._last[uid]
        with contextlib.suppress(asyncio.CancelledError):
            task.exception()  # retrieved: a cancelled or failed task is not reported again by asyncio

"""`jobwire run KIND/NAME`: ask the operator for one run now, say what it did, and (--wait) how the Job ended.

The request is the annotation `jobwire.io/run-requested-at` with a new value; the operator echoes the value it acted
on in `status.runRequestedAt`. For a Schedule the run's event id (and so its Job's name) follows from the value, so
the command knows exactly which Job, skip or queue entry is its own; for a Sensor it is the first poll at or after
the request. The result goes to stdout; what the command waits for goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from jobwire.api.kinds import SCHEDULE, SENSOR, Kind
from jobwire.cli.common import CliError, Session, connect, get_target, parse_target, progress, run_async
from jobwire.cli.output import clean, parse_time
from jobwire.events.model import ProducerRef, manual_run_id
from jobwire.jobs.history import job_result
from jobwire.jobs.naming import job_name
from jobwire.jobs.render import KIND_LABEL, NAME_LABEL
from jobwire.kube.api import JSON, jobs_path, jobwire_path
from jobwire.kube.errors import NotFound

__all__ = ["ANNOTATION", "DEFAULT_TIMEOUT", "DEFAULT_WAIT_TIMEOUT", "run"]

ANNOTATION = "jobwire.io/run-requested-at"
DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for the operator to act on the request."""
DEFAULT_WAIT_TIMEOUT = 3600.0
"""With --wait: seconds to wait, in all, for the Jobs to finish too."""
POLL_SECONDS = 0.5
NOTE_EVERY = 10.0
"""While waiting, say so again this often."""

T = TypeVar("T")


class _Clock:
    """The command's deadline, and a reminder on stderr of what it still waits for."""

    def __init__(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._deadline = self._start + timeout
        self.timeout = timeout

    async def until(self, what: str, check: Callable[[], Awaitable[T | None]]) -> T:
        noted = self._loop.time()
        progress(f"waiting for {what} (up to {max(0.0, self._deadline - noted):.0f}s)")
        while True:
            result = await check()
            if result is not None:
                return result
            now = self._loop.time()
            if now >= self._deadline:
                raise CliError(f"gave up after {self.timeout:.0f}s waiting for {what} (--timeout to wait longer)")
            if now - noted >= NOTE_EVERY:
                progress(f"still waiting for {what} ({now - self._start:.0f}s)")
                noted = now
            await asyncio.sleep(min(POLL_SECONDS, self._deadline - now))


async def _status(session: Session, kind: Kind, name: str) -> JSON:
    body = await session.kube.get(jobwire_path(kind.plural, session.namespace, name))
    return dict(body.get("status") or {})


async def _job(session: Session, name: str) -> JSON | None:
    try:
        return await session.kube.get(jobs_path(session.namespace, name))
    except NotFound:
        return None


async def _schedule_run(session: Session, body: JSON, value: str, clock: _Clock, wait: bool) -> list[str]:
    """The Job the Schedule made for this request (none yet when it waits in the queue, unless `wait`); a CliError
    when it skipped the run."""
    meta = body["metadata"]
    event_id = manual_run_id(value)
    name = job_name(ProducerRef(SCHEDULE.kind, session.namespace, meta["name"], meta.get("uid", "")), event_id)
    announced_queue = False

    async def outcome() -> str | None:
        nonlocal announced_queue
        status = await _status(session, SCHEDULE, meta["name"])
        if status.get("runRequestedAt") != value:
            return None
        skip = status.get("lastSkip") or {}
        if skip.get("eventId") == event_id:
            raise CliError(f"the run was skipped: {clean(skip.get('reason'))}: {clean(skip.get('message'))}")
        if await _job(session, name) is not None:
            return name
        if any(q.get("id") == event_id for q in status.get("queue") or []) and not announced_queue:
            print(f"queued: event {event_id} waits for a free slot (concurrencyPolicy Queue)", flush=True)
            announced_queue = True
            if not wait:
                return ""
        return None

    created = await clock.until(f"the operator to run schedule/{meta['name']} (event {event_id})", outcome)
    if not created:
        return []
    print(f"job/{created} created", flush=True)
    return [created]


async def _sensor_poll(session: Session, body: JSON, value: str, clock: _Clock, wait: bool) -> list[str]:
    """The Jobs of the first poll at or after the request (when waiting for them); a CliError when it failed."""
    name = body["metadata"]["name"]
    asked = (parse_time(value) or datetime.now(UTC)).replace(microsecond=0)

    async def polled() -> JSON | None:
        status = await _status(session, SENSOR, name)
        poll = status.get("lastPoll") or {}
        at = parse_time(poll.get("time"))
        return poll if status.get("runRequestedAt") == value and at is not None and at >= asked else None

    poll = await clock.until(f"the operator to poll sensor/{name}", polled)
    items = poll.get("items", 0)
    reason = f" ({clean(poll['reason'])})" if poll.get("reason") else ""
    print(f"polled: {clean(poll.get('outcome'))}, {clean(items)} new item(s){reason}", flush=True)
    if poll.get("outcome") == "Failed":
        raise CliError(f"the poll failed{reason}")
    if not wait or poll.get("outcome") != "Fired":
        return []
    selector = f"{KIND_LABEL}={SENSOR.kind},{NAME_LABEL}={name}"
    since = (parse_time(poll.get("time")) or asked).replace(microsecond=0)

    async def jobs() -> list[str] | None:
        listed = await session.kube.get(jobs_path(session.namespace), {"labelSelector": selector})
        names = [
            job["metadata"]["name"]
            for job in listed.get("items") or []
            if (created := parse_time(job["metadata"].get("creationTimestamp"))) is not None and created >= since
        ]
        return sorted(names) or None

    found = await clock.until(f"the Jobs of sensor/{name}'s poll", jobs)
    for job in found:
        print(f"job/{job} created", flush=True)
    return found


async def _finished(session: Session, names: list[str], clock: _Clock) -> int:
    results: dict[str, str] = {}

    async def done() -> dict[str, str] | None:
        for each in names:
            if each in results:
                continue
            job = await _job(session, each)
            if job is None:
                results[each] = "Deleted"
            elif (result := job_result(job)) is not None:
                results[each] = result.value
        return results if len(results) == len(names) else None

    what = f"job/{names[0]} to finish" if len(names) == 1 else f"{len(names)} Jobs to finish"
    await clock.until(what, done)
    for each in names:
        print(f"job/{each} {results[each]}", flush=True)
    return 0 if all(result == "Succeeded" for result in results.values()) else 1


async def _run_now(args: argparse.Namespace) -> int:
    kind, name = parse_target(args.target, (SCHEDULE, SENSOR))
    timeout = args.timeout if args.timeout is not None else DEFAULT_WAIT_TIMEOUT if args.wait else DEFAULT_TIMEOUT
    if timeout <= 0:
        raise CliError("--timeout must be positive", code=2)
    async with connect(args) as session:
        body = await get_target(session, kind, name)
        value = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        patch: dict[str, Any] = {"metadata": {"annotations": {ANNOTATION: value}}}
        await session.kube.merge_patch(jobwire_path(kind.plural, session.namespace, name), patch)
        progress(f"{kind.singular}/{name}: run requested ({ANNOTATION}={value})")
        clock = _Clock(timeout)
        if kind is SCHEDULE:
            jobs = await _schedule_run(session, body, value, clock, args.wait)
        else:
            jobs = await _sensor_poll(session, body, value, clock, args.wait)
        if args.wait and jobs:
            return await _finished(session, jobs, clock)
        return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `run KIND/NAME` (the `run` command's parser holds the operator's flags too)."""
    parser.add_argument(
        "--wait", action="store_true", help="run KIND/NAME: also wait for the Jobs to finish; exit 1 if one failed"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"run KIND/NAME: seconds to wait in all (default {DEFAULT_TIMEOUT:.0f}, "
        f"with --wait {DEFAULT_WAIT_TIMEOUT:.0f})",
    )


def run(args: argparse.Namespace) -> int:
    return run_async(_run_now(args))

"""The tracker across restarts: every finished Job is counted once, however many there are beyond `recentRuns`."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from jobwire.api.common import JobTemplate, RunResult
from jobwire.events.model import JOB_SUCCEEDED, Event, ProducerRef
from jobwire.jobs.history import RECENT_RUNS_LIMIT, Finished, record_finishes
from jobwire.jobs.pipeline import DispatchOutcome, RunSpec, Target
from jobwire.kube.api import JSON, jobs_path
from jobwire.kube.errors import KubeError
from tests.support.builders import job_template
from tests.support.fakekube import FakeWorld


def hook(world: FakeWorld, limit: int = 50) -> Target:
    spec = RunSpec(template=JobTemplate.model_validate(job_template()), successful_limit=limit)
    ref = ProducerRef(kind="Webhook", namespace="ns", name="hook", uid="")
    return world.producer(Target(ref=ref, plural="webhooks", run=spec))


async def make(world: FakeWorld, target: Target, n: int) -> str:
    event = Event(
        id=f"d-{n}",
        source="/apis/jobwire.io/v1alpha1/namespaces/ns/webhooks/hook",
        type="jobwire.webhook.received",
        time=world.clock.now(),
        data={},
    )
    result = await world.pipeline.dispatch(target, event)
    assert result.outcome is DispatchOutcome.CREATED
    return result.jobs[0]


def succeeded_events(world: FakeWorld) -> list[str]:
    return sorted(e.subject or "" for e in world.published if e.type == JOB_SUCCEEDED)


def told(world: FakeWorld) -> list[str]:
    return sorted(message.split()[1] for message in world.recorded.reasons("JobSucceeded"))


async def test_a_restart_does_not_count_again_the_jobs_older_than_recent_runs() -> None:
    """docs/reliability.md's reproduction: 25 Jobs succeed one after another (history limit 50, all kept); the
    operator restarts and its watch replays all 25: totals stay 25, and no JobSucceeded Event nor
    jobwire.job.succeeded event goes out again."""
    world = FakeWorld()
    target = hook(world)
    names = []
    for n in range(25):
        name = await make(world, target, n)
        await world.tracker.observe(world.job(target, name) or {})
        await world.tracker.observe(world.finish(target, name, after=float(n)))
        names.append(name)
    status = world.status_of(target)
    assert status["totals"] == {"created": 25, "succeeded": 25, "failed": 0, "skipped": 0}
    assert len(status["recentRuns"]) == RECENT_RUNS_LIMIT < 25
    assert told(world) == sorted(names) == succeeded_events(world)

    world.restart()
    replay = world.jobs(target)
    random.Random(8).shuffle(replay)  # noqa: S311 (an order, not a secret)
    for job in replay:
        await world.tracker.observe(job)
    assert world.status_of(target)["totals"] == {"created": 25, "succeeded": 25, "failed": 0, "skipped": 0}
    assert told(world) == sorted(names), "a JobSucceeded Event went out again"
    assert succeeded_events(world) == sorted(names), "a jobwire.job.succeeded event went out again"


async def test_jobs_that_finished_while_the_operator_was_down_are_counted_once_in_any_order() -> None:
    """30 Jobs finish while nobody watches (beyond recentRuns); the replay comes in any order, twice."""
    world = FakeWorld()
    target = hook(world)
    names = [await make(world, target, n) for n in range(30)]
    for name in names:
        await world.tracker.observe(world.job(target, name) or {})
    for n, name in enumerate(names):
        world.finish(target, name, after=float(n % 7))  # ends out of the order of creation
    for round_ in range(2):
        world.restart()
        replay = world.jobs(target)
        random.Random(round_).shuffle(replay)  # noqa: S311 (an order, not a secret)
        for job in replay:
            await world.tracker.observe(job)
    status = world.status_of(target)
    assert status["totals"] == {"created": 30, "succeeded": 30, "failed": 0, "skipped": 0}
    assert status["activeCount"] == 0
    assert told(world) == sorted(names)
    assert succeeded_events(world) == sorted(names)


def finished(name: str, end_second: int) -> Finished:
    end = datetime(2026, 11, 22, 12, tzinfo=UTC) + timedelta(seconds=end_second)
    return Finished(name=name, uid=name, event_id=name, result=RunResult.SUCCEEDED, start=end, end=end)


def test_counted_before_never_covers_a_job_that_ends_in_the_same_second_as_the_newest() -> None:
    """A Job running at the listing can end in the same second as the newest one listed: not taken as counted."""
    status, counted = record_finishes({}, [finished("a", 0), finished("b", 5)], listed=True)
    assert [run.name for run in counted] == ["a", "b"]
    assert status["countedBefore"] == "2026-11-22T12:00:05Z"
    status, counted = record_finishes(status, [finished("c", 5)], listed=False)
    assert [run.name for run in counted] == ["c"]
    assert status["totals"]["succeeded"] == 3


def test_without_a_listing_counted_before_does_not_move() -> None:
    status, _ = record_finishes({}, [finished("a", 9)], listed=False)
    assert "countedBefore" not in status
    _, counted = record_finishes(status, [finished("b", 3)], listed=True)
    assert [run.name for run in counted] == ["b"]


async def test_a_finished_job_deleted_before_it_was_seen_finishing_is_counted_once() -> None:
    """Its ttlSecondsAfterFinished deleted it at once: the deletion is where the tracker sees it end."""
    world = FakeWorld()
    target = hook(world)
    name = await make(world, target, 0)
    await world.tracker.observe(world.job(target, name) or {})
    world.finish(target, name)
    gone = world.kube.objects.pop(jobs_path("ns", name))
    await world.tracker.observe(gone, deleted=True)
    await world.tracker.observe(gone)  # its finish, late
    assert world.status_of(target)["totals"]["succeeded"] == 1
    assert told(world) == [name]


async def test_a_start_whose_write_failed_is_recorded_at_the_jobs_next_event_and_once() -> None:
    """The start record is not awaited by the watch's handler: a write that fails must not lose it for good."""
    world = FakeWorld()
    target = hook(world)
    name = await make(world, target, 0)
    job = world.job(target, name) or {}
    working = world.kube.replace

    async def down(path: str, body: JSON) -> JSON:
        raise KubeError("the API server is down")

    world.kube.replace = down  # type: ignore[method-assign]
    await world.tracker.observe(job)
    for _ in range(20):  # the write's own task: a few turns of the event loop, no time passes
        await asyncio.sleep(0)
    assert "active" not in world.status_of(target)

    world.kube.replace = working  # type: ignore[method-assign]
    for _ in range(2):  # the Job's next event, then one more: recorded once
        await world.tracker.observe(job)
        for _ in range(20):
            await asyncio.sleep(0)
    status = world.status_of(target)
    assert [a["name"] for a in status["active"]] == [name]
    assert status["activeCount"] == 1
    assert status["totals"]["created"] == 1

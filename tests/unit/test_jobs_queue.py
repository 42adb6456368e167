"""The queue of concurrencyPolicy Queue across a crash: the pipeline and the tracker on an API server in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from jobwire.api.common import ConcurrencyPolicy, JobTemplate
from jobwire.events.model import Event, ProducerRef
from jobwire.jobs.naming import job_name
from jobwire.jobs.pipeline import DispatchOutcome, RunSpec, Target
from jobwire.kube.api import jobs_path
from tests.support.builders import job_template
from tests.support.fakekube import FakeWorld


def queued_webhook(world: FakeWorld, **run: object) -> Target:
    spec = RunSpec(
        template=JobTemplate.model_validate(job_template()),
        policy=ConcurrencyPolicy.QUEUE,
        max_active=1,
        **run,  # type: ignore[arg-type]
    )
    ref = ProducerRef(kind="Webhook", namespace="ns", name="serial", uid="")
    return world.producer(Target(ref=ref, plural="webhooks", run=spec))


def event(world: FakeWorld, n: int) -> Event:
    return Event(
        id=f"e{n}",
        source="/apis/jobwire.io/v1alpha1/namespaces/ns/webhooks/serial",
        type="jobwire.webhook.received",
        time=world.clock.now() + timedelta(seconds=n),
        data={"n": n},
    )


async def finish(world: FakeWorld, target: Target, name: str) -> None:
    await world.tracker.observe(world.finish(target, name))


def queued_ids(world: FakeWorld, target: Target) -> list[str]:
    return [item["id"] for item in world.status_of(target).get("queue") or []]


async def test_a_crash_between_starting_the_queue_head_and_dequeuing_it_does_not_stall_the_queue() -> None:
    """The leader created the Job of the queue's head and died before taking it out of the queue. When that Job
    finishes, the head is recognised as run (no second Job) and the next event starts: the queue goes on."""
    world = FakeWorld()
    target = queued_webhook(world)
    first = await world.pipeline.dispatch(target, event(world, 0))
    assert first.outcome is DispatchOutcome.CREATED
    for n in (1, 2):
        assert (await world.pipeline.dispatch(target, event(world, n))).outcome is DispatchOutcome.QUEUED
    await world.tracker.observe(world.job(target, first.jobs[0]) or {})
    # What a leader killed in the middle of `drain_queue` leaves: e0 done, e1's Job made, e1 still queued.
    world.finish(target, first.jobs[0])
    head = await world.pipeline.create(target, event(world, 1))
    assert head.outcome is DispatchOutcome.CREATED
    assert queued_ids(world, target) == ["e1", "e2"]

    world.restart()  # the next leader
    await world.tracker.observe(world.job(target, first.jobs[0]) or {})
    await world.tracker.observe(world.job(target, head.jobs[0]) or {})
    assert len(world.jobs(target)) == 2, "e2 started while e1 still runs"
    await finish(world, target, head.jobs[0])
    names = {j["metadata"]["name"] for j in world.jobs(target)}
    assert names == {job_name(target.ref, f"e{n}") for n in range(3)}, "e2 never started, or e1 ran twice"
    assert queued_ids(world, target) == []
    await finish(world, target, job_name(target.ref, "e2"))
    assert world.status_of(target)["totals"]["succeeded"] == 3


async def test_a_queued_event_whose_job_exists_and_finished_takes_no_slot() -> None:
    world = FakeWorld()
    target = queued_webhook(world)
    first = await world.pipeline.dispatch(target, event(world, 0))
    for n in (1, 2, 3):
        await world.pipeline.dispatch(target, event(world, n))
    # e1's and e2's Jobs were made and finished, yet both are still queued (two crashes in the same window).
    for n in (1, 2):
        made = await world.pipeline.create(target, event(world, n))
        world.finish(target, made.jobs[0])
    await finish(world, target, first.jobs[0])
    assert queued_ids(world, target) == []
    running = [j["metadata"]["name"] for j in world.jobs(target) if not j.get("status")]
    assert running == [job_name(target.ref, "e3")]
    assert len([c for c in world.kube.calls if c == ("create", jobs_path("ns"))]) == 4


async def test_a_retried_event_whose_job_finished_is_a_duplicate_not_queued_again() -> None:
    world = FakeWorld()
    target = queued_webhook(world)
    first = await world.pipeline.dispatch(target, event(world, 0))
    await finish(world, target, first.jobs[0])
    second = await world.pipeline.dispatch(target, event(world, 1))
    assert second.outcome is DispatchOutcome.CREATED  # e1 runs now
    again = await world.pipeline.dispatch(target, event(world, 0))
    assert again.outcome is DispatchOutcome.DUPLICATE
    assert again.jobs == first.jobs
    assert queued_ids(world, target) == []


async def test_a_retried_event_whose_job_finished_does_not_replace_the_running_one() -> None:
    world = FakeWorld()
    target = queued_webhook(world)
    replacing = world.producer(
        Target(ref=target.ref, plural=target.plural, run=replace(target.run, policy=ConcurrencyPolicy.REPLACE))
    )
    first = await world.pipeline.dispatch(replacing, event(world, 0))
    await finish(world, replacing, first.jobs[0])
    running = await world.pipeline.dispatch(replacing, event(world, 1))
    again = await world.pipeline.dispatch(replacing, event(world, 0))
    assert again.outcome is DispatchOutcome.DUPLICATE
    assert world.job(replacing, running.jobs[0]) is not None, "a retry of a finished event replaced a running Job"

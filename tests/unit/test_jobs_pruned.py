"""Jobs deleted by the history limits: their events stay duplicates (status.prunedJobs), known without an API call."""

from __future__ import annotations

from datetime import timedelta

from jobwire.api.common import ConcurrencyPolicy, JobTemplate, QueuedEvent
from jobwire.events.model import Event, ProducerRef
from jobwire.jobs.history import PRUNED_LIMIT, pruned_key, record_pruned
from jobwire.jobs.naming import job_name
from jobwire.jobs.pipeline import DispatchOutcome, RunSpec, Target
from jobwire.jobs.pruned import PrunedJobs
from jobwire.kube.api import JSON, jobs_path
from tests.support.builders import job_template
from tests.support.fakekube import FakeWorld


def limited_webhook(world: FakeWorld, limit: int = 1) -> Target:
    spec = RunSpec(template=JobTemplate.model_validate(job_template()), successful_limit=limit)
    ref = ProducerRef(kind="Webhook", namespace="ns", name="hook", uid="")
    return world.producer(Target(ref=ref, plural="webhooks", run=spec))


def delivery(world: FakeWorld, key: str) -> Event:
    return Event(
        id=f"delivery-{key}",
        source="/apis/jobwire.io/v1alpha1/namespaces/ns/webhooks/hook",
        type="jobwire.webhook.received",
        time=world.clock.now() + timedelta(seconds=1),
        data={},
    )


async def run_to_the_end(world: FakeWorld, target: Target, key: str) -> str:
    result = await world.pipeline.dispatch(target, delivery(world, key))
    assert result.outcome is DispatchOutcome.CREATED
    [name] = result.jobs
    await world.tracker.observe(world.job(target, name) or {})
    await world.tracker.observe(world.finish(target, name))
    return name


def creates(world: FakeWorld) -> int:
    return sum(1 for call in world.kube.calls if call == ("create", jobs_path("ns")))


async def test_a_retry_after_the_history_limit_deleted_its_job_is_a_duplicate() -> None:
    """docs/reliability.md's reproduction: limit 1, deliver A, deliver B, A's Job is deleted, deliver A again."""
    world = FakeWorld()
    target = limited_webhook(world)
    a = await run_to_the_end(world, target, "A")
    b = await run_to_the_end(world, target, "B")
    assert [j["metadata"]["name"] for j in world.jobs(target)] == [b], "the limit deleted A's Job"
    assert world.status_of(target)["prunedJobs"] == [pruned_key(a)]
    made = creates(world)
    again = await world.pipeline.dispatch(target, delivery(world, "A"))
    assert again.outcome is DispatchOutcome.DUPLICATE
    assert again.jobs == (a,)
    assert creates(world) == made, "a second Job for A"
    assert [j["metadata"]["name"] for j in world.jobs(target)] == [b]


async def test_the_check_costs_no_api_call_per_request_and_one_read_after_a_restart() -> None:
    world = FakeWorld()
    target = limited_webhook(world)
    a = await run_to_the_end(world, target, "A")
    await run_to_the_end(world, target, "B")
    world.kube.calls.clear()
    fresh = await world.pipeline.dispatch(target, delivery(world, "C"))
    assert fresh.outcome is DispatchOutcome.CREATED
    assert world.kube.calls == [("create", jobs_path("ns"))], "the hot path asked the API more than the create"

    world.restart()  # a new process: nothing learned yet
    world.kube.calls.clear()
    retries = [await world.pipeline.dispatch(target, delivery(world, "A")) for _ in range(3)]
    assert [r.outcome for r in retries] == [DispatchOutcome.DUPLICATE] * 3
    assert all(r.jobs == (a,) for r in retries)
    assert [verb for verb, _ in world.kube.calls] == ["get"], "the producer is read once, then known"


async def test_a_finished_job_deleted_by_someone_else_is_remembered_too() -> None:
    """Its ttlSecondsAfterFinished, or a person: the tracker sees the deletion and records it."""
    world = FakeWorld()
    target = limited_webhook(world, limit=5)
    a = await run_to_the_end(world, target, "A")
    gone = world.kube.objects.pop(jobs_path("ns", a))
    await world.tracker.observe(gone, deleted=True)
    assert world.status_of(target)["prunedJobs"] == [pruned_key(a)]
    assert (await world.pipeline.dispatch(target, delivery(world, "A"))).outcome is DispatchOutcome.DUPLICATE
    calls = len(world.kube.calls)
    await world.tracker.observe(gone, deleted=True)  # the watch again: known, nothing asked or written
    assert len(world.kube.calls) == calls


async def test_a_queued_event_whose_job_was_deleted_is_not_run_again() -> None:
    """A crash left an event queued whose Job ran, finished and was deleted by the limit: dequeued, not rerun."""
    world = FakeWorld()
    target = limited_webhook(world)
    queued = world.producer(
        Target(
            ref=target.ref,
            plural=target.plural,
            run=RunSpec(template=target.run.template, policy=ConcurrencyPolicy.QUEUE, max_active=1, successful_limit=1),
        )
    )
    a = await run_to_the_end(world, queued, "A")
    await run_to_the_end(world, queued, "B")
    assert world.job(queued, a) is None
    path = "/apis/jobwire.io/v1alpha1/namespaces/ns/webhooks/hook"
    body = world.kube.objects[path]
    event = delivery(world, "A")
    item = QueuedEvent(id=event.id, type=event.type, source=event.source, time=event.time).wire()
    world.kube.put(path, {**body, "status": {**body["status"], "queue": [item]}})
    world.restart()
    made = creates(world)
    results = await world.pipeline.drain_queue(queued)
    assert [r.outcome for r in results] == [DispatchOutcome.DUPLICATE]
    assert creates(world) == made
    assert not world.status_of(queued).get("queue")


def test_the_record_is_bounded_oldest_dropped_and_idempotent() -> None:
    ref = ProducerRef(kind="Webhook", namespace="ns", name="hook", uid="u")
    names = [job_name(ref, f"d-{n}") for n in range(PRUNED_LIMIT + 5)]
    status: JSON = {}
    for name in names:
        status = record_pruned(status, [name])
    assert status["prunedJobs"] == [pruned_key(n) for n in names[5:]]
    assert record_pruned(status, names[-3:]) == status
    assert len("".join(status["prunedJobs"])) == 10 * PRUNED_LIMIT


async def test_memory_follows_the_newest_list_and_ignores_an_older_one() -> None:
    async def never(*_: str) -> JSON:
        raise AssertionError("no API call expected")

    pruned = PrunedJobs(never, limit=3)
    ref = ProducerRef(kind="Webhook", namespace="ns", name="hook", uid="u")
    jobs = [job_name(ref, f"d-{n}") for n in range(5)]
    keys = [pruned_key(j) for j in jobs]
    pruned.learn("webhooks", "ns", "hook", "u", {"prunedJobs": keys[:2]})
    pruned.learn("webhooks", "ns", "hook", "u", {"prunedJobs": keys[:3]})
    pruned.learn("webhooks", "ns", "hook", "u", {"prunedJobs": keys[:1]})  # a watch event behind the others
    assert await pruned.holds("webhooks", "ns", "hook", "u", jobs) == set(jobs[:3])
    pruned.learn("webhooks", "ns", "hook", "u", {"prunedJobs": keys[2:5]})  # the status keeps the newest 3
    assert await pruned.holds("webhooks", "ns", "hook", "u", jobs) == set(jobs[2:5])
    pruned.learn("webhooks", "ns", "hook", "other-uid", {})  # deleted and made again under the same name
    assert await pruned.holds("webhooks", "ns", "hook", "other-uid", jobs) == set()

"""The concurrency decision, policy by policy, and which queued events start when slots free up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobwire.api.common import ConcurrencyPolicy, QueuedEvent
from jobwire.jobs.policy import DEFAULT_MAX_QUEUED, ActiveJob, Decision, Outcome, decide, next_from_queue

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def running(*names: str) -> list[ActiveJob]:
    return [ActiveJob(name=name, event_id=f"ev-{name}", created=T0) for name in names]


def queued(*ids: str) -> list[QueuedEvent]:
    return [QueuedEvent(id=event_id, type="t", source="/s") for event_id in ids]


def test_outcomes_and_default_queue_length_are_the_documented_values() -> None:
    assert [o.value for o in Outcome] == ["Create", "Skip", "ReplaceThenCreate", "Enqueue", "Refuse"]
    assert DEFAULT_MAX_QUEUED == 100


@pytest.mark.parametrize(
    ("active", "max_active", "expected"),
    [
        ([], None, Decision(Outcome.CREATE, "Allowed", "concurrencyPolicy Allow")),
        (running("a", "b", "c"), None, Decision(Outcome.CREATE, "Allowed", "concurrencyPolicy Allow")),
        (running("a"), 2, Decision(Outcome.CREATE, "Allowed", "concurrencyPolicy Allow")),
        (running("a", "b"), 2, Decision(Outcome.SKIP, "MaxActive", "jobs a, b are running; maxActive is 2")),
        (running("a", "b", "c"), 2, Decision(Outcome.SKIP, "MaxActive", "jobs a, b, c are running; maxActive is 2")),
        (running("a"), 1, Decision(Outcome.SKIP, "MaxActive", "job a is running; maxActive is 1")),
    ],
)
def test_allow(active: list[ActiveJob], max_active: int | None, expected: Decision) -> None:
    assert decide(ConcurrencyPolicy.ALLOW, active, max_active=max_active, queued=0, max_queued=100) == expected


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ([], Decision(Outcome.CREATE, "NoneActive", "no Job is running")),
        (running("nightly-abc"), Decision(Outcome.SKIP, "Forbidden", "job nightly-abc is still running")),
        (running("a", "b"), Decision(Outcome.SKIP, "Forbidden", "jobs a, b are still running")),
        (
            running("a", "b", "c", "d", "e"),
            Decision(Outcome.SKIP, "Forbidden", "jobs a, b, c and 2 more are still running"),
        ),
    ],
)
def test_forbid(active: list[ActiveJob], expected: Decision) -> None:
    assert decide(ConcurrencyPolicy.FORBID, active, max_active=None, queued=0, max_queued=100) == expected


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ([], Decision(Outcome.CREATE, "NoneActive", "no Job is running")),
        (running("a"), Decision(Outcome.REPLACE_THEN_CREATE, "Replaced", "replacing job a", replace=("a",))),
        (
            running("a", "b"),
            Decision(Outcome.REPLACE_THEN_CREATE, "Replaced", "replacing jobs a, b", replace=("a", "b")),
        ),
        (
            [*running("a", "b"), ActiveJob(name="a", event_id=None, created=None)],
            Decision(Outcome.REPLACE_THEN_CREATE, "Replaced", "replacing jobs a, b", replace=("a", "b")),
        ),
    ],
)
def test_replace(active: list[ActiveJob], expected: Decision) -> None:
    assert decide(ConcurrencyPolicy.REPLACE, active, max_active=None, queued=0, max_queued=100) == expected


@pytest.mark.parametrize(
    ("active", "max_active", "waiting", "max_queued", "expected"),
    [
        ([], None, 0, 100, Decision(Outcome.CREATE, "SlotFree", "0 of at most 1 Jobs running")),
        (running("a"), 3, 0, 100, Decision(Outcome.CREATE, "SlotFree", "1 of at most 3 Jobs running")),
        (
            running("a"),
            None,
            0,
            100,
            Decision(Outcome.ENQUEUE, "Queued", "job a is running; the event waits in the queue (1 of 100)"),
        ),
        (
            running("a", "b"),
            2,
            4,
            100,
            Decision(Outcome.ENQUEUE, "Queued", "jobs a, b are running; the event waits in the queue (5 of 100)"),
        ),
        # A free slot does not let a new event overtake those already waiting.
        (
            [],
            None,
            1,
            100,
            Decision(Outcome.ENQUEUE, "Queued", "1 event waiting; the event waits in the queue (2 of 100)"),
        ),
        (
            running("a"),
            2,
            3,
            5,
            Decision(Outcome.ENQUEUE, "Queued", "3 events waiting; the event waits in the queue (4 of 5)"),
        ),
        (
            running("a"),
            None,
            99,
            100,
            Decision(Outcome.ENQUEUE, "Queued", "job a is running; the event waits in the queue (100 of 100)"),
        ),
        (
            running("a"),
            None,
            100,
            100,
            Decision(Outcome.REFUSE, "QueueFull", "job a is running; the queue is full (100 events, maxQueued)"),
        ),
        (
            running("a"),
            None,
            7,
            5,
            Decision(Outcome.REFUSE, "QueueFull", "job a is running; the queue is full (5 events, maxQueued)"),
        ),
        (
            [],
            4,
            2,
            2,
            Decision(Outcome.REFUSE, "QueueFull", "2 events waiting; the queue is full (2 events, maxQueued)"),
        ),
    ],
)
def test_queue(
    active: list[ActiveJob], max_active: int | None, waiting: int, max_queued: int, expected: Decision
) -> None:
    got = decide(ConcurrencyPolicy.QUEUE, active, max_active=max_active, queued=waiting, max_queued=max_queued)
    assert got == expected


@pytest.mark.parametrize("policy", ["Allow", "Forbid", "Replace", "Queue"])
def test_policy_may_be_the_plain_string_a_spec_holds(policy: str) -> None:
    as_string = decide(policy, running("a"), max_active=None, queued=0, max_queued=10)
    as_enum = decide(ConcurrencyPolicy(policy), running("a"), max_active=None, queued=0, max_queued=10)
    assert as_string == as_enum


def test_an_unknown_policy_is_an_error() -> None:
    with pytest.raises(ValueError, match="Sometimes"):
        decide("Sometimes", [], max_active=None, queued=0, max_queued=10)


def test_outcomes_compare_equal_to_their_names() -> None:
    decision = decide(ConcurrencyPolicy.FORBID, running("a"), max_active=None, queued=0, max_queued=1)
    assert decision.outcome == "Skip"
    assert decision.replace == ()


@pytest.mark.parametrize(
    ("active_count", "max_active", "expected"),
    [
        (0, None, ["e1"]),
        (1, None, []),
        (0, 3, ["e1", "e2", "e3"]),
        (1, 3, ["e1", "e2"]),
        (3, 3, []),
        (5, 3, []),
        (0, 10, ["e1", "e2", "e3", "e4"]),
    ],
)
def test_next_from_queue_fills_free_slots_oldest_first(
    active_count: int, max_active: int | None, expected: list[str]
) -> None:
    started = next_from_queue(queued("e1", "e2", "e3", "e4"), active_count, max_active)
    assert [event.id for event in started] == expected


def test_next_from_an_empty_queue_is_nothing() -> None:
    assert next_from_queue([], 0, 5) == []


def test_queued_events_whose_job_exists_are_taken_without_a_slot() -> None:
    """A Job made before a crash kept its event queued: it leaves the queue, and the free slot goes to the next."""
    started = next_from_queue(queued("e1", "e2", "e3", "e4"), 0, 1, made={"e1", "e3"})
    assert [event.id for event in started] == ["e1", "e2", "e3"]
    assert [event.id for event in next_from_queue(queued("e1", "e2"), 1, 1, made={"e2"})] == ["e2"]

"""Run history in status: results and times read from Jobs, idempotent records, bounded history, trimming order."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobwire.api.common import ProducerStatus, RunResult
from jobwire.jobs.history import (
    RECENT_RUNS_LIMIT,
    job_result,
    job_times,
    jobs_to_delete,
    record_finished,
    record_skipped,
    record_started,
)

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def condition(kind: str, status: str = "True", when: str = "2026-03-29T01:05:00Z") -> dict[str, Any]:
    return {"type": kind, "status": status, "lastTransitionTime": when}


def job(
    name: str = "j",
    *conditions: dict[str, Any],
    start: str | None = "2026-03-29T01:00:00Z",
    completion: str | None = None,
    created: str | None = "2026-03-29T00:59:59Z",
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": list(conditions)}
    if start:
        status["startTime"] = start
    if completion:
        status["completionTime"] = completion
    metadata: dict[str, Any] = {"name": name}
    if created:
        metadata["creationTimestamp"] = created
    return {"metadata": metadata, "status": status}


def started(status: dict[str, Any] | None, name: str, seconds: float = 0, uid: str | None = None) -> dict[str, Any]:
    return record_started(
        status, job_name=name, job_uid=uid, event_id=f"ev-{name}", scheduled_time=at(seconds), start_time=at(seconds)
    )


def finished(
    status: dict[str, Any] | None, name: str, result: RunResult = RunResult.SUCCEEDED, seconds: float = 0
) -> dict[str, Any]:
    return record_finished(
        status,
        job_name=name,
        event_id=f"ev-{name}",
        result=result,
        start_time=at(seconds),
        completion_time=at(seconds + 90.5),
    )


# --- reading Jobs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([], None),
        ([condition("Suspended")], None),
        ([condition("Complete", "False"), condition("Failed", "Unknown")], None),
        ([condition("Complete")], RunResult.SUCCEEDED),
        ([condition("SuccessCriteriaMet")], RunResult.SUCCEEDED),
        ([condition("SuccessCriteriaMet"), condition("Complete")], RunResult.SUCCEEDED),
        ([condition("Failed")], RunResult.FAILED),
        ([condition("FailureTarget")], RunResult.FAILED),
        ([condition("FailureTarget"), condition("Failed")], RunResult.FAILED),
        ([condition("Complete"), condition("Failed")], RunResult.FAILED),
    ],
)
def test_job_result_reads_the_ending_condition(conditions: list[dict[str, Any]], expected: RunResult | None) -> None:
    assert job_result(job("j", *conditions)) == expected


def test_a_job_without_status_is_running() -> None:
    assert job_result({"metadata": {"name": "j"}}) is None
    assert job_result({"metadata": {"name": "j"}, "status": None}) is None
    assert job_times({"metadata": {"name": "j"}}) == (None, None)


def test_job_times_of_a_successful_job_are_start_and_completion() -> None:
    done = job("j", condition("Complete"), completion="2026-03-29T01:02:00Z")
    assert job_times(done) == (T0, at(120))


def test_a_failed_job_ends_when_its_failure_condition_became_true() -> None:
    failed = job("j", condition("Complete", "False", "2026-03-29T01:01:00Z"), condition("Failed"))
    assert job_times(failed) == (T0, at(300))


def test_a_running_job_has_no_completion() -> None:
    assert job_times(job("j")) == (T0, None)
    assert job_times(job("j", start=None)) == (None, None)


def test_unreadable_times_are_unknown_rather_than_fatal() -> None:
    assert job_times(job("j", start="yesterday", completion="12")) == (None, None)


# --- record_started ---------------------------------------------------------------------------------------------


def test_a_start_makes_the_job_active_and_the_last_run() -> None:
    status = record_started(
        {"observedGeneration": 4},
        job_name="nightly-abc",
        job_uid="uid-1",
        event_id="tick-1",
        scheduled_time=T0,
        start_time=at(1.7),
    )
    assert status == {
        "observedGeneration": 4,
        "active": [{"name": "nightly-abc", "uid": "uid-1", "eventId": "tick-1"}],
        "activeCount": 1,
        "lastRun": {
            "job": "nightly-abc",
            "eventId": "tick-1",
            "scheduledTime": "2026-03-29T01:00:00Z",
            "startTime": "2026-03-29T01:00:01Z",
            "result": "Running",
        },
        "totals": {"created": 1, "succeeded": 0, "failed": 0, "skipped": 0},
    }
    ProducerStatus.model_validate(status)


def test_unknown_times_and_uid_are_left_out() -> None:
    status = record_started(None, job_name="j", job_uid=None, event_id="e", scheduled_time=None, start_time=None)
    assert status["active"] == [{"name": "j", "eventId": "e"}]
    assert status["lastRun"] == {"job": "j", "eventId": "e", "result": "Running"}


def test_recording_the_same_start_twice_changes_nothing() -> None:
    once = started(None, "a")
    assert started(once, "a", seconds=30, uid="other") == once
    assert started(started(once, "b"), "a")["totals"]["created"] == 2


def test_a_start_arriving_after_the_finish_changes_nothing() -> None:
    done = finished(started(None, "a"), "a")
    assert started(done, "a") == done


def test_starts_accumulate_active_jobs_in_order() -> None:
    status = started(started(started(None, "a"), "b", 10), "c", 20)
    assert [entry["name"] for entry in status["active"]] == ["a", "b", "c"]
    assert status["activeCount"] == 3
    assert status["lastRun"]["job"] == "c"
    assert status["totals"]["created"] == 3


def test_records_never_mutate_their_input() -> None:
    before = started(started(None, "a"), "b")
    snapshot = copy.deepcopy(before)
    started(before, "c")
    finished(before, "a")
    record_skipped(before, event_id="e", reason="Forbidden", message="m", time=T0)
    assert before == snapshot


def test_existing_totals_are_kept_and_completed() -> None:
    status = started({"totals": {"created": 7, "failed": 2}}, "a")
    assert status["totals"] == {"created": 8, "succeeded": 0, "failed": 2, "skipped": 0}


# --- record_finished --------------------------------------------------------------------------------------------


def test_a_finish_moves_the_job_from_active_to_recent_runs() -> None:
    status = record_finished(
        started(started(None, "a"), "b", 10),
        job_name="a",
        event_id="ev-a",
        result=RunResult.FAILED,
        start_time=T0,
        completion_time=at(90.5),
    )
    assert status["active"] == [{"name": "b", "eventId": "ev-b"}]
    assert status["activeCount"] == 1
    assert status["recentRuns"] == [
        {
            "job": "a",
            "eventId": "ev-a",
            "result": "Failed",
            "startTime": "2026-03-29T01:00:00Z",
            "durationSeconds": 90.5,
        }
    ]
    assert status["totals"] == {"created": 2, "succeeded": 0, "failed": 1, "skipped": 0}
    # The last run is b, which is still running: a's finish does not touch it.
    assert status["lastRun"]["job"] == "b"
    assert status["lastRun"]["result"] == "Running"
    ProducerStatus.model_validate(status)


def test_finishing_the_last_run_completes_it() -> None:
    status = finished(started(None, "a", seconds=0), "a", RunResult.SUCCEEDED)
    assert status["lastRun"] == {
        "job": "a",
        "eventId": "ev-a",
        "scheduledTime": "2026-03-29T01:00:00Z",
        "startTime": "2026-03-29T01:00:00Z",
        "completionTime": "2026-03-29T01:01:30Z",
        "result": "Succeeded",
    }
    assert status["active"] == []
    assert status["activeCount"] == 0
    assert status["totals"] == {"created": 1, "succeeded": 1, "failed": 0, "skipped": 0}


def test_recording_the_same_finish_twice_changes_nothing() -> None:
    once = finished(started(None, "a"), "a")
    assert finished(once, "a", RunResult.FAILED) == once


def test_a_finish_whose_start_was_missed_counts_as_created_and_becomes_the_last_run() -> None:
    status = record_finished(
        None, job_name="a", event_id="e", result="Succeeded", start_time=None, completion_time=None
    )
    assert status == {
        "active": [],
        "activeCount": 0,
        "recentRuns": [{"job": "a", "eventId": "e", "result": "Succeeded"}],
        "totals": {"created": 1, "succeeded": 1, "failed": 0, "skipped": 0},
        "lastRun": {"job": "a", "eventId": "e", "result": "Succeeded"},
    }


def test_a_finish_keeps_the_recorded_start_when_it_has_none() -> None:
    status = record_finished(
        started(None, "a", seconds=5),
        job_name="a",
        event_id="ev-a",
        result=RunResult.SUCCEEDED,
        start_time=None,
        completion_time=at(60),
    )
    assert status["lastRun"]["startTime"] == "2026-03-29T01:00:05Z"
    assert "durationSeconds" not in status["recentRuns"][0]


def test_a_clock_skewed_duration_is_never_negative() -> None:
    status = record_finished(
        None, job_name="a", event_id="e", result="Failed", start_time=at(10), completion_time=at(5)
    )
    assert status["recentRuns"][0]["durationSeconds"] == 0.0


def test_running_is_not_a_finish() -> None:
    with pytest.raises(ValueError, match="not Running"):
        record_finished(None, job_name="a", event_id="e", result="Running", start_time=None, completion_time=None)


def test_recent_runs_are_newest_first_and_bounded() -> None:
    status: dict[str, Any] | None = None
    for index in range(RECENT_RUNS_LIMIT + 5):
        status = finished(started(status, f"j{index}", index), f"j{index}", seconds=index)
    assert status is not None
    assert RECENT_RUNS_LIMIT == 20
    assert [run["job"] for run in status["recentRuns"]] == [f"j{i}" for i in range(24, 4, -1)]
    assert status["totals"] == {"created": 25, "succeeded": 25, "failed": 0, "skipped": 0}


def test_finishes_out_of_order_are_listed_in_the_order_they_were_seen() -> None:
    status = started(started(None, "a"), "b", 10)
    status = finished(finished(status, "b", seconds=10), "a", RunResult.FAILED)
    assert [run["job"] for run in status["recentRuns"]] == ["a", "b"]
    assert status["totals"] == {"created": 2, "succeeded": 1, "failed": 1, "skipped": 0}


@given(st.lists(st.tuples(st.sampled_from(["start", "finish"]), st.integers(0, 6)), max_size=40))
def test_replayed_watch_events_never_count_a_job_twice(steps: list[tuple[str, int]]) -> None:
    status: dict[str, Any] | None = None
    for step, number in steps:
        status = started(status, f"j{number}") if step == "start" else finished(status, f"j{number}")
    if status is None:
        return
    totals = status["totals"]
    names = {number for _, number in steps}
    finished_names = {number for step, number in steps if step == "finish"}
    assert totals["created"] == len(names)
    assert totals["succeeded"] == len(finished_names)
    assert status["activeCount"] == len(status["active"]) == len(names - finished_names)


# --- record_skipped ---------------------------------------------------------------------------------------------


def test_a_skip_is_counted_and_told() -> None:
    status = record_skipped(
        started(None, "a"),
        event_id="tick-2",
        reason="Forbidden",
        message="job a is still running",
        time=at(60.9),
    )
    assert status["lastSkip"] == {
        "time": "2026-03-29T01:01:00Z",
        "eventId": "tick-2",
        "reason": "Forbidden",
        "message": "job a is still running",
    }
    assert status["totals"] == {"created": 1, "succeeded": 0, "failed": 0, "skipped": 1}
    assert status["active"] == [{"name": "a", "eventId": "ev-a"}]
    # The API model (and so the CRD schema) keeps every field written here.
    assert ProducerStatus.model_validate(status).wire() == status


def test_the_same_skip_recorded_twice_counts_once_but_another_counts_again() -> None:
    once = record_skipped(None, event_id="e1", reason="Forbidden", message="m", time=T0)
    assert record_skipped(once, event_id="e1", reason="Forbidden", message="m", time=at(5)) == once
    other_reason = record_skipped(once, event_id="e1", reason="Suspended", message="m", time=at(5))
    assert other_reason["totals"]["skipped"] == 2
    other_event = record_skipped(once, event_id="e2", reason="Forbidden", message="m", time=at(5))
    assert other_event["totals"]["skipped"] == 2
    assert other_event["lastSkip"]["eventId"] == "e2"


# --- jobs_to_delete ---------------------------------------------------------------------------------------------


def succeeded_job(name: str, minute: int) -> dict[str, Any]:
    return job(name, condition("Complete"), completion=f"2026-03-29T02:{minute:02d}:00Z")


def failed_job(name: str, minute: int) -> dict[str, Any]:
    return job(name, condition("Failed", when=f"2026-03-29T02:{minute:02d}:00Z"))


def test_the_oldest_beyond_each_limit_are_deleted_oldest_first() -> None:
    jobs = [
        succeeded_job("s3", 30),
        failed_job("f1", 5),
        succeeded_job("s1", 10),
        succeeded_job("s4", 40),
        failed_job("f2", 25),
        succeeded_job("s2", 20),
        failed_job("f3", 35),
    ]
    assert jobs_to_delete(jobs, successful_limit=2, failed_limit=1) == ["f1", "s1", "s2", "f2"]


def test_limits_of_zero_delete_every_finished_job_and_large_limits_none() -> None:
    jobs = [succeeded_job("s1", 1), failed_job("f1", 2)]
    assert jobs_to_delete(jobs, 0, 0) == ["s1", "f1"]
    assert jobs_to_delete(jobs, 10, 10) == []
    assert jobs_to_delete(jobs, -1, 1) == ["s1"]


def test_running_jobs_are_never_deleted() -> None:
    jobs = [job("running-old", created="2026-01-01T00:00:00Z"), succeeded_job("s1", 1)]
    assert jobs_to_delete(jobs, 0, 0) == ["s1"]


def test_without_a_completion_time_the_creation_time_orders_them() -> None:
    no_completion = [
        job("b", condition("Complete", when=""), created="2026-03-29T00:02:00Z"),
        job("a", condition("Complete", when=""), created="2026-03-29T00:01:00Z"),
        job("c", condition("Complete", when=""), created="2026-03-29T00:03:00Z"),
    ]
    assert jobs_to_delete(no_completion, 1, 0) == ["a", "b"]


def test_jobs_without_any_time_go_first_and_ties_break_by_name() -> None:
    jobs = [
        job("z", condition("Complete", when=""), created=None),
        job("y", condition("Complete", when=""), created=None),
        succeeded_job("x", 1),
    ]
    assert jobs_to_delete(jobs, 1, 1) == ["y", "z"]


def test_active_is_bounded_but_counted_in_full() -> None:
    from jobwire.jobs.history import ACTIVE_LIMIT

    status: dict[str, Any] = {}
    for i in range(ACTIVE_LIMIT + 30):
        status = record_started(
            status, job_name=f"j{i}", job_uid=None, event_id=f"e{i}", scheduled_time=None, start_time=None
        )
    assert len(status["active"]) == ACTIVE_LIMIT
    assert status["activeCount"] == ACTIVE_LIMIT + 30
    assert status["active"][-1]["name"] == f"j{ACTIVE_LIMIT + 29}"
    # One that the list had no room for finishes: one fewer runs.
    status = record_finished(
        status, job_name="j0", event_id="e0", result="Succeeded", start_time=None, completion_time=None
    )
    assert status["activeCount"] == ACTIVE_LIMIT + 29
    status = record_finished(
        status, job_name=f"j{ACTIVE_LIMIT + 29}", event_id="x", result="Failed", start_time=None, completion_time=None
    )
    assert status["activeCount"] == ACTIVE_LIMIT + 28
    assert len(status["active"]) == ACTIVE_LIMIT - 1


def test_jobs_beyond_the_active_list_are_counted_created_once_however_they_finish() -> None:
    """More Jobs running than `active` lists: each that finishes outside the list was counted when it started,
    and is not counted as created again (it was, once per such finish, before session 5)."""
    from jobwire.jobs.history import ACTIVE_LIMIT

    count = ACTIVE_LIMIT + 30
    status: dict[str, Any] = {}
    for i in range(count):
        status = record_started(
            status, job_name=f"j{i}", job_uid=None, event_id=f"e{i}", scheduled_time=None, start_time=None
        )
    order = list(range(count))
    random.Random(4).shuffle(order)  # noqa: S311 (an order, not a secret)
    for i in order:
        status = record_finished(
            status, job_name=f"j{i}", event_id=f"e{i}", result="Succeeded", start_time=None, completion_time=None
        )
    assert status["totals"]["created"] == count
    assert status["totals"]["succeeded"] == count
    assert status["activeCount"] == 0


def start_of(status: dict[str, Any], i: int, *, term: str, created: datetime) -> dict[str, Any]:
    return record_started(
        status,
        job_name=f"j{i}",
        job_uid=f"u{i}",
        event_id=f"e{i}",
        scheduled_time=None,
        start_time=None,
        created=created,
        term=term,
    )


def test_a_replay_of_the_jobs_beyond_the_active_list_counts_none_of_them_again() -> None:
    """docs/reliability.md: 80 Jobs running, 50 in `active`. A restart (a new term) replays all 80, in name order
    rather than creation order; none is counted again. The next new Job is."""
    from jobwire.jobs.history import ACTIVE_LIMIT

    count = ACTIVE_LIMIT + 30
    status: dict[str, Any] = {}
    for i in range(count):
        status = start_of(status, i, term="first", created=at(i // 3))  # three a second, as Kubernetes stamps them
    assert (status["activeCount"], status["totals"]["created"]) == (count, count)
    assert status["startsCounted"]["newest"] == "2026-03-29T01:00:26Z"
    before = copy.deepcopy(status)
    for i in sorted(range(count), key=str):
        status = start_of(status, i, term="second", created=at(i // 3))
    assert {k: v for k, v in status.items() if k != "startsCounted"} == {
        k: v for k, v in before.items() if k != "startsCounted"
    }
    newest = "2026-03-29T01:00:26Z"
    assert status["startsCounted"] == {"newest": newest, "term": "second", "before": newest}
    status = start_of(status, count, term="second", created=at(60))
    assert (status["activeCount"], status["totals"]["created"]) == (count + 1, count + 1)
    assert status["startsCounted"]["newest"] == "2026-03-29T01:01:00Z"
    assert status["startsCounted"]["before"] == "2026-03-29T01:00:26Z"  # fixed for the term


@settings(max_examples=25)
@given(st.randoms(use_true_random=False))
def test_jobs_made_while_nobody_watched_are_counted_once_in_any_order(rng: random.Random) -> None:
    """A failover: 80 Jobs counted by the old leader, 60 made by a follower while nobody led (created later). The
    new leader's replay meets all 140 in any order, and its live watch may bring new ones in between: the 60 are
    counted once each, the 80 not again, whatever the order, and a second restart counts nothing more."""
    from jobwire.jobs.history import ACTIVE_LIMIT

    counted = ACTIVE_LIMIT + 30
    status: dict[str, Any] = {}
    for i in range(counted):
        status = start_of(status, i, term="old", created=at(i))
    unwatched = list(range(counted, counted + 60))
    replay = list(range(counted)) + unwatched
    rng.shuffle(replay)
    for i in replay:
        status = start_of(status, i, term="new", created=at(i))
    total = counted + len(unwatched)
    assert (status["activeCount"], status["totals"]["created"]) == (total, total)
    for i in sorted(range(total), key=lambda _: rng.random()):
        status = start_of(status, i, term="third", created=at(i))
    assert (status["activeCount"], status["totals"]["created"]) == (total, total)


def test_without_jobs_beyond_the_active_list_an_unknown_running_job_is_counted() -> None:
    """Every counted running Job is in `active`: one that is not was never counted, however old."""
    status = start_of({}, 0, term="old", created=at(10))
    status = start_of(status, 1, term="new", created=at(5))
    assert (status["activeCount"], status["totals"]["created"]) == (2, 2)


def test_a_job_whose_start_was_not_recorded_is_counted_created_when_it_finishes() -> None:
    status = record_started(None, job_name="a", job_uid=None, event_id="a", scheduled_time=None, start_time=None)
    status = record_finished(
        status, job_name="b", event_id="b", result="Succeeded", start_time=None, completion_time=None
    )  # b ran while nobody watched; every active Job is listed, so b is not one of them
    assert status["totals"]["created"] == 2
    assert status["activeCount"] == 1

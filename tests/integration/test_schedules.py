"""Schedules on the real control plane, with the operator in-process on a clock that the tests move.

The clock starts at real time (the API server stamps objects with it) and jumps forward to each tick the test
wants; the tests wait only for the API server to show what the operator did. The tests' hourly expression
(the `hourly` fixture) fires half an hour of real time away from the test's start, so that real time alone never
reaches a tick while a test runs.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from jobwire.events.model import ProducerRef, schedule_tick_id
from jobwire.jobs.naming import job_name
from jobwire.schedules import tick_source
from jobwire.status.conditions import format_time
from jobwire.timing.clock import SteppedClock
from tests.support.builders import schedule
from tests.support.inprocess import InProcessOperator, in_process_operator
from tests.support.kube import Cluster
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

SCHEDULES = "schedules.jobwire.io"


def ticks(cron: str, after: datetime, count: int) -> list[datetime]:
    return tick_source(cron=cron, interval=None).after(after, count)


def jobs(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={name}", "-o", "json").stdout
    return sorted(json.loads(out)["items"], key=lambda j: j["metadata"]["annotations"]["jobwire.io/scheduled-time"])


def status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get(SCHEDULES, name, namespace).get("status") or {}
    return found


def ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        conditions = status(cluster, namespace, name).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), None)

    return eventually(check, what=f"a Ready condition on {name}")


def ready_false(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        condition = ready(cluster, namespace, name)
        return condition if condition["status"] == "False" else None

    return eventually(check, what=f"Ready=False on {name}")


def count_jobs(cluster: Cluster, namespace: str, name: str, expected: int) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        found = jobs(cluster, namespace, name)
        return found if len(found) == expected else None

    return eventually(check, what=f"{expected} Job(s) of {name}")


def scheduled_times(found: list[dict[str, Any]]) -> list[str]:
    return [j["metadata"]["annotations"]["jobwire.io/scheduled-time"] for j in found]


def totals(cluster: Cluster, namespace: str, name: str) -> dict[str, int]:
    found: dict[str, int] = status(cluster, namespace, name).get("totals") or {}
    return found


def apply(cluster: Cluster, manifest: dict[str, Any]) -> None:
    result = cluster.apply(manifest)
    assert result.returncode == 0, result.stderr


def tick_to(op: InProcessOperator, cluster: Cluster, namespace: str, name: str, tick: datetime) -> None:
    """Move the clock to `tick` and wait until the operator has handled it (run, skipped or queued)."""
    op.clock.set(tick)

    def handled() -> bool:
        current = status(cluster, namespace, name)
        planned = [current.get("lastScheduleTime"), current.get("plannedThrough")]
        queued = [q["id"] for q in current.get("queue") or []]
        skip = (current.get("lastSkip") or {}).get("eventId")
        return format_time(tick) in planned or schedule_tick_id(tick) in [*queued, skip]

    eventually(handled, what=f"the tick at {format_time(tick)} to be handled")


def test_a_tick_becomes_a_job_with_its_name_labels_annotations_and_env(
    cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str
) -> None:
    apply(cluster, schedule("hourly", namespace, cron=hourly))
    assert ready(cluster, namespace, "hourly")["status"] == "True"
    first, second = ticks(hourly, op.clock.now(), 2)
    assert status(cluster, namespace, "hourly")["nextScheduleTimes"][:2] == [format_time(first), format_time(second)]
    assert jobs(cluster, namespace, "hourly") == []
    op.clock.set(first)
    [job] = count_jobs(cluster, namespace, "hourly", 1)

    uid = cluster.get(SCHEDULES, "hourly", namespace)["metadata"]["uid"]
    ref = ProducerRef(kind="Schedule", namespace=namespace, name="hourly", uid=uid)
    meta = job["metadata"]
    assert meta["name"] == job_name(ref, schedule_tick_id(first))
    assert meta["labels"]["jobwire.io/kind"] == "Schedule"
    assert meta["labels"]["jobwire.io/name"] == "hourly"
    assert meta["annotations"]["jobwire.io/event-id"] == schedule_tick_id(first)
    assert meta["annotations"]["jobwire.io/event-type"] == "jobwire.schedule.tick"
    assert meta["annotations"]["jobwire.io/scheduled-time"] == format_time(first)
    assert meta["ownerReferences"][0]["uid"] == uid
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["JOBWIRE_EVENT_ID"] == schedule_tick_id(first)
    assert env["JOBWIRE_EVENT_TYPE"] == "jobwire.schedule.tick"
    assert env["JOBWIRE_EVENT_SOURCE"] == f"/apis/jobwire.io/v1alpha1/namespaces/{namespace}/schedules/hourly"
    event = json.loads(env["JOBWIRE_EVENT"])
    assert (event["specversion"], event["time"]) == ("1.0", format_time(first))

    def finished() -> dict[str, Any] | None:
        current = status(cluster, namespace, "hourly")
        return current if (current.get("lastRun") or {}).get("result") == "Succeeded" else None

    done = eventually(finished, what="the run to be recorded as Succeeded")
    assert done["lastScheduleTime"] == format_time(first)
    assert done["lastSuccessfulTime"]
    assert done["totals"]["created"] == 1
    assert done["totals"]["succeeded"] == 1
    assert done["recentRuns"][0]["job"] == meta["name"]
    assert done["activeCount"] == 0
    assert done["nextScheduleTimes"][0] == format_time(second)
    reasons = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=hourly",
        "-o",
        "jsonpath={.items[*].reason}",
    ).stdout.split()
    assert {"JobCreated", "JobSucceeded"} <= set(reasons)
    row = cluster.kubectl("get", "jws", "hourly", "-n", namespace).stdout.splitlines()[1]
    assert row.startswith(f"hourly   {hourly}   UTC   false")
    assert " True " in row


@pytest.mark.parametrize(("policy", "expected_jobs", "skipped"), [("Allow", 2, 0), ("Forbid", 1, 1), ("Replace", 1, 0)])
def test_concurrency_policies(
    cluster: Cluster, namespace: str, op: InProcessOperator, policy: str, expected_jobs: int, skipped: int, hourly: str
) -> None:
    apply(cluster, schedule("busy", namespace, cron=hourly, outcome="hang", concurrencyPolicy=policy))
    ready(cluster, namespace, "busy")
    first, second = ticks(hourly, op.clock.now(), 2)
    tick_to(op, cluster, namespace, "busy", first)
    [running] = count_jobs(cluster, namespace, "busy", 1)
    tick_to(op, cluster, namespace, "busy", second)
    found = count_jobs(cluster, namespace, "busy", expected_jobs)
    current = status(cluster, namespace, "busy")
    assert (current.get("totals") or {}).get("skipped", 0) == skipped
    if policy == "Forbid":
        assert current["lastSkip"]["reason"] == "Forbidden"
        assert running["metadata"]["name"] in current["lastSkip"]["message"]
        assert scheduled_times(found) == [format_time(first)]
    if policy == "Replace":
        assert scheduled_times(found) == [format_time(second)]
    if policy == "Allow":
        assert scheduled_times(found) == [format_time(first), format_time(second)]


def test_queue_runs_waiting_ticks_in_order_one_at_a_time(
    cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str
) -> None:
    apply(cluster, schedule("queued", namespace, cron=hourly, outcome="hang", concurrencyPolicy="Queue", maxActive=1))
    ready(cluster, namespace, "queued")
    first, second, third = ticks(hourly, op.clock.now(), 3)
    for tick in (first, second, third):
        tick_to(op, cluster, namespace, "queued", tick)
    assert [q["id"] for q in status(cluster, namespace, "queued")["queue"]] == [
        schedule_tick_id(second),
        schedule_tick_id(third),
    ]
    assert scheduled_times(jobs(cluster, namespace, "queued")) == [format_time(first)]
    assert queue_depth(op) == 2
    for expected in (second, third):
        [running] = jobs(cluster, namespace, "queued")
        cluster.kubectl("delete", "job", running["metadata"]["name"], "-n", namespace, "--wait=true")

        def started(wanted: str = format_time(expected)) -> bool:
            return scheduled_times(jobs(cluster, namespace, "queued")) == [wanted]

        eventually(started, what=f"the queued tick {format_time(expected)} to start")
    eventually(lambda: not status(cluster, namespace, "queued").get("queue"), what="an empty queue")
    assert queue_depth(op) == 0


def queue_depth(op: InProcessOperator) -> float:
    """jobwire_queue_depth as the operator's /metrics says it."""
    text = httpx.get(f"http://127.0.0.1:{op.probe_port}/metrics", timeout=10).text
    [value] = [line.split()[1] for line in text.splitlines() if line.startswith("jobwire_queue_depth ")]
    return float(value)


def test_history_limits_apply_when_jobs_finish(
    cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str
) -> None:
    apply(cluster, schedule("kept", namespace, cron=hourly, successfulJobsHistoryLimit=2))
    ready(cluster, namespace, "kept")
    four = ticks(hourly, op.clock.now(), 4)
    for tick in four:
        tick_to(op, cluster, namespace, "kept", tick)
    eventually(lambda: totals(cluster, namespace, "kept").get("succeeded") == 4, what="4 successful runs")
    found = count_jobs(cluster, namespace, "kept", 2)
    assert scheduled_times(found) == [format_time(t) for t in four[2:]]


def test_failed_runs_are_recorded_and_limited(
    cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str
) -> None:
    apply(cluster, schedule("flaky", namespace, cron=hourly, outcome="fail", failedJobsHistoryLimit=1))
    ready(cluster, namespace, "flaky")
    for runs, tick in enumerate(ticks(hourly, op.clock.now(), 2), start=1):
        tick_to(op, cluster, namespace, "flaky", tick)

        def failed(expected: int = runs) -> bool:
            return totals(cluster, namespace, "flaky").get("failed") == expected

        eventually(failed, what=f"failed run {runs}")
    current = status(cluster, namespace, "flaky")
    assert current["lastRun"]["result"] == "Failed"
    assert "lastSuccessfulTime" not in current
    count_jobs(cluster, namespace, "flaky", 1)
    reasons = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=flaky,type=Warning",
        "-o",
        "jsonpath={.items[*].reason}",
    ).stdout.split()
    assert "JobFailed" in reasons


def test_run_now_runs_once_per_value(cluster: Cluster, namespace: str, op: InProcessOperator) -> None:
    apply(cluster, schedule("manual", namespace, cron="0 0 1 1 *"))
    ready(cluster, namespace, "manual")
    cluster.kubectl("annotate", SCHEDULES, "manual", "-n", namespace, "jobwire.io/run-requested-at=first")
    [job] = count_jobs(cluster, namespace, "manual", 1)
    assert job["metadata"]["annotations"]["jobwire.io/event-id"].startswith("run-")
    eventually(lambda: status(cluster, namespace, "manual").get("runRequestedAt") == "first", what="the echo")
    cluster.kubectl(
        "annotate", SCHEDULES, "manual", "-n", namespace, "--overwrite", "jobwire.io/run-requested-at=second"
    )
    count_jobs(cluster, namespace, "manual", 2)
    eventually(lambda: status(cluster, namespace, "manual").get("runRequestedAt") == "second", what="the echo")
    # Re-applying a manifest that carries an old value runs nothing new.
    cluster.kubectl(
        "annotate", SCHEDULES, "manual", "-n", namespace, "--overwrite", "jobwire.io/run-requested-at=second"
    )
    assert len(jobs(cluster, namespace, "manual")) == 2


def test_suspended_ticks_never_run(cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str) -> None:
    apply(cluster, schedule("paused", namespace, cron=hourly, suspend=True, catchUp="All"))
    assert ready(cluster, namespace, "paused")["reason"] == "Suspended"
    first, second = ticks(hourly, op.clock.now(), 2)
    op.clock.set(first + timedelta(minutes=10))
    apply(cluster, schedule("paused", namespace, cron=hourly, suspend=False, catchUp="All"))
    eventually(lambda: ready(cluster, namespace, "paused")["reason"] == "Scheduled", what="resumed")
    tick_to(op, cluster, namespace, "paused", second)
    found = count_jobs(cluster, namespace, "paused", 1)
    assert scheduled_times(found) == [format_time(second)]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"cron": "0 0 31 2 *"}, "never fires"),
        ({"cron": "0 25 * * *"}, "hour"),
        ({"cron": "0 1 * * *", "timeZone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
    ],
)
def test_bad_schedules_say_why_and_recover_when_fixed(
    cluster: Cluster, namespace: str, op: InProcessOperator, spec: dict[str, Any], words: str, hourly: str
) -> None:
    apply(cluster, schedule("bad", namespace, **spec))
    condition = ready_false(cluster, namespace, "bad")
    assert condition["reason"] == "InvalidSchedule"
    assert words in condition["message"]
    apply(cluster, schedule("bad", namespace, cron=hourly))
    eventually(lambda: ready(cluster, namespace, "bad")["status"] == "True", what="recovery")


def test_an_invalid_job_template_is_reported_before_any_tick(
    cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str
) -> None:
    manifest = schedule("badjob", namespace, cron=hourly)
    manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    apply(cluster, manifest)
    condition = ready_false(cluster, namespace, "badjob")
    assert condition["reason"] == "InvalidJobTemplate"
    assert "image" in condition["message"]


@pytest.mark.parametrize(
    ("catch_up", "max_runs", "runs"),
    [("None", None, 0), ("Latest", None, 1), ("All", 3, 3)],
)
def test_catch_up_after_the_operator_was_down(
    cluster: Cluster, namespace: str, catch_up: str, max_runs: int | None, runs: int, hourly: str
) -> None:
    extra: dict[str, Any] = {"maxRuns": max_runs} if max_runs else {}
    clock = SteppedClock()
    with in_process_operator(cluster.kubeconfig, namespace, clock) as first:
        apply(cluster, schedule("nightly", namespace, cron=hourly, catchUp=catch_up, **extra))
        ready(cluster, namespace, "nightly")
        hours = ticks(hourly, clock.now(), 6)
        tick_to(first, cluster, namespace, "nightly", hours[0])
        count_jobs(cluster, namespace, "nightly", 1)
    # Down from the first tick until 10 minutes after the fifth: four ticks are missed.
    clock.set(hours[4] + timedelta(minutes=10))
    with in_process_operator(cluster.kubeconfig, namespace, clock):
        eventually(
            lambda: totals(cluster, namespace, "nightly").get("skipped", 0) == 4 - runs,
            what=f"{4 - runs} skipped ticks recorded",
        )
        found = count_jobs(cluster, namespace, "nightly", 1 + runs)
        expected = [hours[0], *hours[5 - runs : 5]]
        assert scheduled_times(found) == [format_time(t) for t in expected]
        assert status(cluster, namespace, "nightly")["nextScheduleTimes"][0] == format_time(hours[5])

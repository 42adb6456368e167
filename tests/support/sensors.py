"""What the Sensor engine tests share: a Sensor manifest, its status, the events its Jobs got, and polls driven by
the in-process operator's SteppedClock (the test moves time; it never waits for an interval to pass).

Fixture (import it into the test module that uses it): `op`, the operator in this process, watching the test's
namespace only, on a clock of its own.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from jobwire.schedules import jitter_offset, parse_duration
from jobwire.status.conditions import find_condition
from tests.support.builders import job_template
from tests.support.inprocess import InProcessOperator
from tests.support.kube import Cluster
from tests.support.wait import eventually

__all__ = [
    "INTERVAL",
    "SENSORS",
    "condition",
    "created",
    "events_of_jobs",
    "first_poll",
    "next_poll_delay",
    "poll_after_start",
    "poll_once",
    "polled",
    "ready",
    "sensor",
    "status",
]

SENSORS = "sensors.jobwire.io"
INTERVAL = timedelta(minutes=5)
"""The tests' poll interval: long enough that real time, which the test clock also follows, never brings a poll
between a test's steps."""
_NUDGE_SECONDS = 3.0


def sensor(name: str, namespace: str, source: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A Sensor polling `source` every INTERVAL; every successful Job is kept, so a test can count them all."""
    body = {"interval": "5m", "source": source, "jobTemplate": job_template(), "successfulJobsHistoryLimit": 100}
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**body, **spec},
    }


def created(cluster: Cluster, namespace: str, *manifests: dict[str, Any]) -> str:
    """Apply `manifests` (a Sensor, and what it needs); the Sensor's name, once the operator has taken it on."""
    result = cluster.apply(*manifests)
    assert result.returncode == 0, result.stderr
    [name] = [m["metadata"]["name"] for m in manifests if m["kind"] == "Sensor"]
    ready(cluster, namespace, name)
    return str(name)


def status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get(SENSORS, name, namespace).get("status") or {}
    return found


def condition(current: dict[str, Any], kind: str) -> dict[str, Any]:
    """The condition of type `kind` in a status; fails when there is none."""
    found = find_condition(current.get("conditions"), kind)
    assert found is not None, f"no {kind} condition in {current.get('conditions')!r}"
    return found


def next_poll_delay(current: dict[str, Any]) -> timedelta:
    """Time from the last poll to the next one, as status says (the interval, or the backoff after a failure)."""
    return _time(current["nextPollTime"]) - _time(current["lastPoll"]["time"])


def events_of_jobs(cluster: Cluster, namespace: str, name: str) -> list[Any]:
    """The `data` of the event each Job of Sensor `name` got (an item, or a batch's list of items)."""
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={name}", "-o", "json").stdout
    found = []
    for job in json.loads(out)["items"]:
        env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        found.append(json.loads(env["JOBWIRE_EVENT"])["data"])
    return found


def ready(cluster: Cluster, namespace: str, name: str) -> None:
    """Wait until the operator has taken the Sensor on (Ready=True): its first poll is then armed."""
    eventually(
        lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in status(cluster, namespace, name).get("conditions") or []
        ),
        what=f"{name} Ready",
    )


def polled(cluster: Cluster, namespace: str, name: str, polls_before: int) -> dict[str, Any]:
    """Wait for one more poll than `polls_before` to be recorded; return the status."""

    def check() -> dict[str, Any] | None:
        current = status(cluster, namespace, name)
        return current if len(current.get("recentPolls") or []) > polls_before else None

    return eventually(check, what=f"poll {polls_before + 1} of {name}")


def first_poll(op: InProcessOperator, cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """Move the clock on to a new Sensor's first poll and return the status once that poll is recorded.

    The first poll is armed at Ready plus the Sensor's spread (`jitter_offset` of its namespace and name, within its
    interval), on a clock that also runs with real time: a spread of a second or less brings it before the test
    moves the clock, and a jump of an interval would then bring a second poll the test did not ask for. A jump of
    the spread and a second reaches the first poll either way and stays an interval short of the second."""
    interval = parse_duration(cluster.get(SENSORS, name, namespace)["spec"]["interval"])
    spread = jitter_offset(namespace, name, max(0, int(interval.total_seconds()) - 1))
    op.clock.advance(spread + timedelta(seconds=1))
    return polled(cluster, namespace, name, 0)


def poll_once(op: InProcessOperator, cluster: Cluster, namespace: str, name: str, by: timedelta = INTERVAL) -> Any:
    """Move the clock on by `by` and return the status once the poll that brings is recorded.

    Not for a Sensor's first poll: that is `first_poll`'s. It may come before the test moves the clock (a spread
    under a second), so "has it polled yet?" cannot tell a first poll still to come from one already made — a
    jump of `by` after one already made brings a second poll the test did not ask for."""
    before = len(status(cluster, namespace, name).get("recentPolls") or [])
    assert before, f"Sensor {name} has not polled yet: bring its first poll with first_poll"
    op.clock.advance(by)
    return polled(cluster, namespace, name, before)


def poll_after_start(op: InProcessOperator, cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The first poll of an operator started on a Sensor that already exists (and is already Ready).

    Nothing shows when the new operator has loaded the Sensor (Kopf says ready before its watch has listed), and a
    jump made before that arms nothing. So: jump an interval, give the poll a few seconds to be recorded, and jump
    again only if none was. A second jump can cross a late record and bring one more poll (finding nothing new):
    the status returned is the one after the last poll, once no poll is due any more (its next poll is ahead of the
    clock), so the test's next steps start from a quiet engine."""
    before = len(status(cluster, namespace, name).get("recentPolls") or [])
    jumped: list[float] = []

    def check() -> dict[str, Any] | None:
        current = status(cluster, namespace, name)
        if len(current.get("recentPolls") or []) > before:
            return current if _time(current["nextPollTime"]) > op.clock.now() else None
        if not jumped or time.monotonic() - jumped[-1] > _NUDGE_SECONDS:
            op.clock.advance(INTERVAL)
            jumped.append(time.monotonic())
        return None

    return eventually(check, timeout=60, what=f"the first poll of {name} by the new operator")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

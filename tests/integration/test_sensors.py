"""The Sensor engine on the real control plane, polling a real local HTTP server, on a clock the test moves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from jobwire.status.conditions import format_time
from jobwire.timing.clock import SteppedClock
from tests.support.builders import webhook
from tests.support.inprocess import InProcessOperator, in_process_operator
from tests.support.jsonserver import JsonServer, json_server
from tests.support.kube import Cluster
from tests.support.sensors import (
    INTERVAL,
    SENSORS,
    events_of_jobs,
    first_poll,
    poll_after_start,
    poll_once,
    polled,
    ready,
    sensor,
    status,
)
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster


@pytest.fixture
def server() -> Iterator[JsonServer]:
    with json_server() as running:
        yield running


def http_sensor(name: str, namespace: str, url: str, **spec: Any) -> dict[str, Any]:
    return sensor(name, namespace, {"http": {"url": url, "items": "response.items", "key": "item.id"}}, **spec)


def test_new_items_make_jobs_and_nothing_new_makes_none(
    cluster: Cluster, namespace: str, op: InProcessOperator, server: JsonServer
) -> None:
    server.serve({"items": [{"id": "a", "size": 1}, {"id": "b", "size": 2}]})
    assert cluster.apply(http_sensor("files", namespace, f"{server.url}/items")).returncode == 0
    ready(cluster, namespace, "files")
    first = first_poll(op, cluster, namespace, "files")
    assert (first["lastPoll"]["outcome"], first["lastPoll"]["items"]) == ("Fired", 2)
    eventually(lambda: len(events_of_jobs(cluster, namespace, "files")) == 2, what="2 Jobs")
    assert sorted(d["id"] for d in events_of_jobs(cluster, namespace, "files")) == ["a", "b"]

    second = poll_once(op, cluster, namespace, "files")
    assert (second["lastPoll"]["outcome"], second["lastPoll"]["reason"]) == ("Skipped", "NothingNew")
    server.serve({"items": [{"id": "a"}, {"id": "b"}, {"id": "c"}]})
    third = poll_once(op, cluster, namespace, "files")
    assert (third["lastPoll"]["outcome"], third["lastPoll"]["items"]) == ("Fired", 1)
    eventually(lambda: len(events_of_jobs(cluster, namespace, "files")) == 3, what="3 Jobs")
    assert [p["outcome"] for p in third["recentPolls"]] == ["Fired", "Skipped", "Fired"]


def test_failures_back_off_and_recovery_resets(
    cluster: Cluster, namespace: str, op: InProcessOperator, server: JsonServer
) -> None:
    server.serve({"error": "down"}, status=500)
    assert cluster.apply(http_sensor("flaky", namespace, f"{server.url}/items")).returncode == 0
    ready(cluster, namespace, "flaky")
    failed = first_poll(op, cluster, namespace, "flaky")
    assert failed["lastPoll"]["outcome"] == "Failed"
    assert failed["consecutiveFailures"] == 1
    healthy = next(c for c in failed["conditions"] if c["type"] == "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "BadStatus")
    # Backoff: the next poll is two intervals after the failure, not one.
    failed_at = datetime.fromisoformat(failed["lastPoll"]["time"].replace("Z", "+00:00"))
    assert failed["nextPollTime"] == format_time(failed_at + 2 * INTERVAL)
    server.serve({"items": [{"id": "x"}]})
    recovered = poll_once(op, cluster, namespace, "flaky", by=2 * INTERVAL)
    assert recovered["consecutiveFailures"] == 0
    assert next(c for c in recovered["conditions"] if c["type"] == "Healthy")["status"] == "True"
    eventually(lambda: len(events_of_jobs(cluster, namespace, "flaky")) == 1, what="the Job after recovery")


def test_batches_fold_items_into_one_job(
    cluster: Cluster, namespace: str, op: InProcessOperator, server: JsonServer
) -> None:
    server.serve({"items": [{"id": str(i)} for i in range(5)]})
    manifest = http_sensor("rows", namespace, f"{server.url}/items", batch={"maxItems": 2, "maxWaitSeconds": 600})
    assert cluster.apply(manifest).returncode == 0
    ready(cluster, namespace, "rows")
    first = first_poll(op, cluster, namespace, "rows")
    assert first["lastPoll"]["outcome"] == "Fired"
    assert [p["key"] for p in first["pendingItems"]] == ["4"]
    eventually(lambda: len(events_of_jobs(cluster, namespace, "rows")) == 2, what="2 batch Jobs")
    assert sorted(len(d) for d in events_of_jobs(cluster, namespace, "rows")) == [2, 2]
    waiting = poll_once(op, cluster, namespace, "rows")
    assert waiting["lastPoll"]["reason"] == "BatchWaiting"
    poll_once(op, cluster, namespace, "rows", by=INTERVAL)
    eventually(lambda: len(events_of_jobs(cluster, namespace, "rows")) == 3, what="the aged partial batch")
    assert not status(cluster, namespace, "rows").get("pendingItems")


def test_poll_now_and_a_webhook_target_nudge_without_waiting_for_the_interval(
    cluster: Cluster, namespace: str, op: InProcessOperator, server: JsonServer
) -> None:
    server.serve({"items": [{"id": "first"}]})
    assert cluster.apply(http_sensor("nudged", namespace, f"{server.url}/items", interval="1h")).returncode == 0
    ready(cluster, namespace, "nudged")
    cluster.kubectl("annotate", SENSORS, "nudged", "-n", namespace, "jobwire.io/run-requested-at=now-1")
    polled(cluster, namespace, "nudged", 0)
    eventually(lambda: len(events_of_jobs(cluster, namespace, "nudged")) == 1, what="the Job of the poll now")

    server.serve({"items": [{"id": "first"}, {"id": "second"}]})
    hook = webhook("push", namespace, {"type": "none"}, target={"sensor": "nudged"})
    del hook["spec"]["jobTemplate"]
    assert cluster.apply(hook).returncode == 0
    url = eventually(lambda: status_url(cluster, namespace), what="the webhook's url")
    answer = httpx.post(f"http://127.0.0.1:{op.settings.http.webhook_port}{url}", json={"bucket": "b"}).json()
    assert answer["nudged"] == ["nudged"]
    eventually(lambda: len(events_of_jobs(cluster, namespace, "nudged")) == 2, what="the Job of the nudged poll")


def status_url(cluster: Cluster, namespace: str) -> str | None:
    current = cluster.get("webhooks.jobwire.io", "push", namespace).get("status") or {}
    ok = any(c["type"] == "Ready" and c["status"] == "True" for c in current.get("conditions") or [])
    return current.get("url") if ok else None


def test_seen_items_survive_an_operator_restart(cluster: Cluster, namespace: str, server: JsonServer) -> None:
    clock = SteppedClock()
    server.serve({"items": [{"id": "a"}, {"id": "b"}]})
    with in_process_operator(cluster.kubeconfig, namespace, clock) as first:
        assert cluster.apply(http_sensor("durable", namespace, f"{server.url}/items")).returncode == 0
        ready(cluster, namespace, "durable")
        first_poll(first, cluster, namespace, "durable")
        eventually(lambda: len(events_of_jobs(cluster, namespace, "durable")) == 2, what="2 Jobs")
    server.serve({"items": [{"id": "a"}, {"id": "b"}, {"id": "c"}]})
    with in_process_operator(cluster.kubeconfig, namespace, clock) as second:
        poll_after_start(second, cluster, namespace, "durable")
        eventually(lambda: len(events_of_jobs(cluster, namespace, "durable")) == 3, what="only c is new")
    assert sorted(d["id"] for d in events_of_jobs(cluster, namespace, "durable")) == ["a", "b", "c"]


def test_deleting_a_sensor_stops_its_polls(
    cluster: Cluster, namespace: str, op: InProcessOperator, server: JsonServer
) -> None:
    server.serve({"items": []})
    assert cluster.apply(http_sensor("gone", namespace, f"{server.url}/items")).returncode == 0
    ready(cluster, namespace, "gone")
    first_poll(op, cluster, namespace, "gone")
    cluster.kubectl("delete", SENSORS, "gone", "-n", namespace)
    eventually(
        lambda: cluster.kubectl("get", SENSORS, "gone", "-n", namespace, check=False).returncode != 0,
        what="the Sensor gone",
    )
    requests = server.requests
    with json_server() as other:
        other.serve({"items": []})
        # A witness on the same engine: once it has polled after the jump, the deleted one would have too.
        assert cluster.apply(http_sensor("witness", namespace, f"{other.url}/items")).returncode == 0
        ready(cluster, namespace, "witness")
        first_poll(op, cluster, namespace, "witness")
        poll_once(op, cluster, namespace, "witness", by=INTERVAL * 3)
    assert server.requests == requests


def test_events_left_in_the_outbox_by_a_crash_are_sent_once(
    cluster: Cluster, namespace: str, server: JsonServer
) -> None:
    server.serve({"items": []})
    assert cluster.apply(http_sensor("crashed", namespace, f"{server.url}/items")).returncode == 0
    # What a poll leaves behind when the operator dies after writing ahead and before making the Job.
    left = {
        "specversion": "1.0",
        "id": "batch-written-ahead",
        "type": "jobwire.sensor.item",
        "time": "2026-01-01T00:00:00Z",
        "source": f"/apis/jobwire.io/v1alpha1/namespaces/{namespace}/sensors/crashed",
        "data": [{"id": "x"}],
    }
    patch = json.dumps({"status": {"outbox": [left], "cursor": "past-x"}})
    cluster.kubectl("patch", SENSORS, "crashed", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch)
    clock = SteppedClock()
    with in_process_operator(cluster.kubeconfig, namespace, clock) as op:
        ready(cluster, namespace, "crashed")
        first_poll(op, cluster, namespace, "crashed")
        eventually(lambda: events_of_jobs(cluster, namespace, "crashed") == [[{"id": "x"}]], what="the re-sent event")
        eventually(lambda: not status(cluster, namespace, "crashed").get("outbox"), what="an empty outbox")
        poll_once(op, cluster, namespace, "crashed")
    assert events_of_jobs(cluster, namespace, "crashed") == [[{"id": "x"}]]
    assert status(cluster, namespace, "crashed")["cursor"] == "past-x"

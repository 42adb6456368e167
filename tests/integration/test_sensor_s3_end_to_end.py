"""New objects in a real S3 API (moto's server) become Jobs through the Sensor engine, on a clock the test moves."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from typing import Any

import pytest

from jobwire.sources.registry import POLLERS
from jobwire.sources.s3 import S3Poller
from jobwire.timing.clock import SteppedClock
from tests.support.builders import secret
from tests.support.inprocess import InProcessOperator, in_process_operator
from tests.support.kube import Cluster
from tests.support.sensors import (
    INTERVAL,
    condition,
    created,
    events_of_jobs,
    first_poll,
    next_poll_delay,
    poll_after_start,
    poll_once,
    sensor,
    status,
)
from tests.support.servers import MotoServer, s3, s3_client
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster
__all__ = ["s3"]  # fixtures used by this module

ACCESS_KEY = "AKIAJOBWIRESENSOR77"
SECRET_KEY = "sk-e2e-3b9f1c7a5d2e8f40"


def create_bucket(s3: MotoServer, name: str) -> None:
    async def create() -> None:
        async with s3_client(s3.endpoint) as client:
            await client.create_bucket(Bucket=name)

    asyncio.run(create())


def put(s3: MotoServer, bucket: str, objects: dict[str, str]) -> None:
    async def write() -> None:
        async with s3_client(s3.endpoint) as client:
            for key, body in objects.items():
                await client.put_object(Bucket=bucket, Key=key, Body=body.encode())

    asyncio.run(write())


@pytest.fixture
def bucket(s3: MotoServer) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    create_bucket(s3, name)
    return name


def s3_sensor(name: str, namespace: str, s3: MotoServer, bucket: str, **spec: Any) -> dict[str, Any]:
    source = {
        "endpoint": s3.endpoint,
        "bucket": bucket,
        "prefix": "in/",
        "suffix": ".csv",
        "accessKeyId": {"name": "s3-keys", "key": "id"},
        "secretAccessKey": {"name": "s3-keys", "key": "secret"},
    }
    return sensor(name, namespace, {"s3": source}, **spec)


def start(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> str:
    """The Sensor and the Secret with its keys, taken on by the operator."""
    return created(cluster, namespace, secret("s3-keys", namespace, id=ACCESS_KEY, secret=SECRET_KEY), manifest)


def assert_no_keys(document: dict[str, Any]) -> None:
    shown = json.dumps(document)
    assert ACCESS_KEY not in shown
    assert SECRET_KEY not in shown


def objects_of_jobs(cluster: Cluster, namespace: str, name: str) -> list[str]:
    return sorted(data["key"] for data in events_of_jobs(cluster, namespace, name))


def test_each_new_object_makes_one_job_and_nothing_new_or_the_same_again_makes_none(
    cluster: Cluster, namespace: str, op: InProcessOperator, s3: MotoServer, bucket: str
) -> None:
    put(s3, bucket, {"in/a.csv": "a1", "in/b.csv": "b1", "in/skip.txt": "x", "out/c.csv": "c"})
    name = start(cluster, namespace, s3_sensor("exports", namespace, s3, bucket))

    first = first_poll(op, cluster, namespace, name)
    assert (first["lastPoll"]["outcome"], first["lastPoll"]["items"]) == ("Fired", 2)
    eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 2, what="a Job per object")
    events = sorted(events_of_jobs(cluster, namespace, name), key=lambda data: str(data["key"]))
    assert [(e["bucket"], e["key"], e["size"]) for e in events] == [(bucket, "in/a.csv", 2), (bucket, "in/b.csv", 2)]
    assert all(e["etag"] and e["lastModified"] for e in events)

    quiet = poll_once(op, cluster, namespace, name)
    assert (quiet["lastPoll"]["outcome"], quiet["lastPoll"]["reason"]) == ("Skipped", "NothingNew")

    # Written again with the same bytes, a second or more later: S3 says it changed (the cursor moves past it),
    # but it is the same object (key and etag), so no second Job.
    put(s3, bucket, {"in/a.csv": "a1"})
    again = poll_once(op, cluster, namespace, name)
    assert (again["lastPoll"]["outcome"], again["lastPoll"]["reason"]) == ("Skipped", "NothingNew")
    assert json.loads(again["cursor"])["keys"] == [f"in/a.csv@{events[0]['etag']}"]

    put(s3, bucket, {"in/a.csv": "a2, changed", "in/d.csv": "d1"})
    changed = poll_once(op, cluster, namespace, name)
    assert (changed["lastPoll"]["outcome"], changed["lastPoll"]["items"]) == ("Fired", 2)
    eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 4, what="Jobs of the changed and new object")
    assert objects_of_jobs(cluster, namespace, name) == ["in/a.csv", "in/a.csv", "in/b.csv", "in/d.csv"]
    assert [p["outcome"] for p in changed["recentPolls"]] == ["Fired", "Skipped", "Skipped", "Fired"]
    assert_no_keys(status(cluster, namespace, name))


def test_objects_are_batched_into_one_job(
    cluster: Cluster, namespace: str, op: InProcessOperator, s3: MotoServer, bucket: str
) -> None:
    put(s3, bucket, {"in/1.csv": "1", "in/2.csv": "2"})
    manifest = s3_sensor("batched", namespace, s3, bucket, batch={"maxItems": 3, "maxWaitSeconds": 600})
    name = start(cluster, namespace, manifest)

    waiting = first_poll(op, cluster, namespace, name)
    assert (waiting["lastPoll"]["outcome"], waiting["lastPoll"]["reason"]) == ("Skipped", "BatchWaiting")
    assert sorted(p["data"]["key"] for p in waiting["pendingItems"]) == ["in/1.csv", "in/2.csv"]
    assert events_of_jobs(cluster, namespace, name) == []

    put(s3, bucket, {"in/3.csv": "3"})
    full = poll_once(op, cluster, namespace, name)
    assert (full["lastPoll"]["outcome"], full["lastPoll"]["items"]) == ("Fired", 1)
    assert not full.get("pendingItems")
    eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 1, what="one Job for the full batch")
    [batch] = events_of_jobs(cluster, namespace, name)
    assert sorted(data["key"] for data in batch) == ["in/1.csv", "in/2.csv", "in/3.csv"]


def test_a_missing_bucket_fails_and_backs_off_until_it_exists(
    cluster: Cluster, namespace: str, op: InProcessOperator, s3: MotoServer
) -> None:
    bucket = f"late-{uuid.uuid4().hex[:12]}"
    name = start(cluster, namespace, s3_sensor("late", namespace, s3, bucket))

    failed = first_poll(op, cluster, namespace, name)
    assert failed["lastPoll"]["outcome"] == "Failed"
    assert failed["lastPoll"]["reason"].startswith("BadStatus: ")
    assert failed["consecutiveFailures"] == 1
    healthy = condition(failed, "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "BadStatus")
    assert bucket in healthy["message"]
    assert next_poll_delay(failed) == 2 * INTERVAL
    assert_no_keys(failed)

    create_bucket(s3, bucket)
    put(s3, bucket, {"in/first.csv": "1"})
    recovered = poll_once(op, cluster, namespace, name, by=2 * INTERVAL)
    assert (recovered["lastPoll"]["outcome"], recovered["consecutiveFailures"]) == ("Fired", 0)
    assert condition(recovered, "Healthy")["status"] == "True"
    assert next_poll_delay(recovered) == INTERVAL
    eventually(lambda: objects_of_jobs(cluster, namespace, name) == ["in/first.csv"], what="the Job after recovery")


def test_the_cursor_survives_an_operator_restart(cluster: Cluster, namespace: str, s3: MotoServer, bucket: str) -> None:
    clock = SteppedClock()
    put(s3, bucket, {"in/a.csv": "a", "in/b.csv": "b"})
    with in_process_operator(cluster.kubeconfig, namespace, clock) as first:
        name = start(cluster, namespace, s3_sensor("durable", namespace, s3, bucket))
        first_poll(first, cluster, namespace, name)
        eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 2, what="2 Jobs")
    cursor = json.loads(status(cluster, namespace, name)["cursor"])
    assert sorted(cursor) == ["after", "keys"]

    put(s3, bucket, {"in/c.csv": "c"})
    with in_process_operator(cluster.kubeconfig, namespace, clock) as second:
        poll_after_start(second, cluster, namespace, name)
        eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 3, what="only c is new")
    assert objects_of_jobs(cluster, namespace, name) == ["in/a.csv", "in/b.csv", "in/c.csv"]


def test_a_listing_of_many_pages_is_read_to_its_end(
    cluster: Cluster,
    namespace: str,
    op: InProcessOperator,
    s3: MotoServer,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The engine builds its pollers from the registry: this one lists two keys per page.
    monkeypatch.setitem(POLLERS, "s3", functools.partial(S3Poller, page_size=2))
    keys = [f"in/{index}.csv" for index in range(7)]
    put(s3, bucket, dict.fromkeys(keys, "x"))
    name = start(cluster, namespace, s3_sensor("paged", namespace, s3, bucket))

    first = first_poll(op, cluster, namespace, name)

    assert (first["lastPoll"]["outcome"], first["lastPoll"]["items"]) == ("Fired", 7)
    eventually(lambda: objects_of_jobs(cluster, namespace, name) == keys, what="a Job for each of the 7 objects")

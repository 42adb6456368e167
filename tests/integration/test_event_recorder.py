"""EventRecorder on the real API server: a burst of Events of one kind becomes two Events, not one per call."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobwire.kube.api import Kube
from jobwire.kube.events import MESSAGE_LIMIT, EventRecorder, ObjectRef
from tests.support.kube import Cluster
from tests.support.servers import kube

pytestmark = pytest.mark.cluster
__all__ = ["kube"]  # fixtures used by this module

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def events(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """The namespace's Events, oldest first, each with `object`: the name of what it is about."""
    listing = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
    items = [{**e, "object": e["involvedObject"]["name"]} for e in listing["items"]]
    return sorted(items, key=lambda e: str(e["firstTimestamp"]))


async def test_a_burst_is_posted_as_the_first_event_and_one_that_counts_the_rest(
    cluster: Cluster, kube: Kube, namespace: str
) -> None:
    recorder = EventRecorder(kube, window=3600)  # the window never passes here: drain() posts what waits
    hook = ObjectRef("jobwire.io/v1alpha1", "Webhook", namespace, "push", None)
    other = ObjectRef("jobwire.io/v1alpha1", "Webhook", namespace, "other", None)
    for i in range(200):
        await recorder.record(hook, reason="JobCreated", message=f"Created Job j-{i}", at=AT + timedelta(seconds=i))
        await asyncio.sleep(0)  # one turn of the loop: the first one's post starts at once
    await recorder.record(hook, reason="JobSkipped", message="Skipped: Suspended", at=AT, warning=True)
    await recorder.record(other, reason="JobCreated", message="Created Job o-1", at=AT)
    await recorder.drain()

    posted = events(cluster, namespace)
    created = [e for e in posted if e["reason"] == "JobCreated" and e["object"] == "push"]
    assert [e["count"] for e in created] == [1, 199]
    first, rest = created
    assert first["message"] == "Created Job j-0"
    assert rest["message"].startswith("Created Job j-1; Created Job j-2; ")
    assert rest["message"].endswith("more)")
    assert len(rest["message"]) <= MESSAGE_LIMIT
    assert (rest["firstTimestamp"], rest["lastTimestamp"]) == ("2026-11-22T09:00:01Z", "2026-11-22T09:03:19Z")
    # Other kinds (another reason, another object) are not folded into it.
    others = [(e["reason"], e["type"], e["count"]) for e in posted if e["object"] == "push" and e not in created]
    assert others == [("JobSkipped", "Warning", 1)]
    assert [e["message"] for e in posted if e["object"] == "other"] == ["Created Job o-1"]


async def test_events_further_apart_than_the_window_are_posted_one_by_one(
    cluster: Cluster, kube: Kube, namespace: str
) -> None:
    recorder = EventRecorder(kube, window=0)
    hook = ObjectRef("jobwire.io/v1alpha1", "Webhook", namespace, "push", None)
    for i in range(3):
        await recorder.record(hook, reason="JobCreated", message=f"Created Job j-{i}", at=AT)
        await recorder.drain()
    assert sorted(str(e["message"]) for e in events(cluster, namespace)) == [
        "Created Job j-0",
        "Created Job j-1",
        "Created Job j-2",
    ]

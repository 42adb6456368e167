"""Objects of the test control plane itself become Jobs through the Sensor engine, on a clock the test moves.

The kubernetes source keys an object by `<uid>:<resourceVersion>`: an object that does not change is not new again,
one that changes while its condition holds is.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from jobwire.sources.kubernetes import KubernetesPoller
from jobwire.sources.registry import POLLERS
from jobwire.timing.clock import SteppedClock
from tests.support.inprocess import InProcessOperator, in_process_operator
from tests.support.kube import Cluster
from tests.support.sensors import (
    condition,
    created,
    events_of_jobs,
    first_poll,
    next_poll_delay,
    poll_after_start,
    poll_once,
    sensor,
)
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

READY_ETL = {"labelSelector": "app=etl", "condition": "object.data.state == 'ready'"}


def config(name: str, namespace: str, state: str, *, app: str = "etl", **more: str) -> dict[str, Any]:
    """A ConfigMap labelled app=`app` whose data holds `state` (and `more`)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "data": {"state": state, **more},
    }


def apply(cluster: Cluster, *manifests: dict[str, Any]) -> None:
    result = cluster.apply(*manifests)
    assert result.returncode == 0, result.stderr


def config_sensor(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return sensor(name, namespace, {"kubernetes": {"apiVersion": "v1", "kind": "ConfigMap", **READY_ETL}}, **spec)


def objects_of_jobs(cluster: Cluster, namespace: str, name: str) -> list[str]:
    return sorted(data["metadata"]["name"] for data in events_of_jobs(cluster, namespace, name))


def test_matching_objects_make_jobs_once_per_version(cluster: Cluster, namespace: str, op: InProcessOperator) -> None:
    apply(
        cluster,
        config("a", namespace, "ready"),
        config("b", namespace, "waiting"),
        config("c", namespace, "ready", app="other"),
    )
    name = created(cluster, namespace, config_sensor("configs", namespace))

    first = first_poll(op, cluster, namespace, name)
    assert (first["lastPoll"]["outcome"], first["lastPoll"]["items"]) == ("Fired", 1)
    eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 1, what="a Job for a")
    [event] = events_of_jobs(cluster, namespace, name)
    stored = cluster.get("configmap", "a", namespace)["metadata"]
    assert (event["kind"], event["metadata"]["name"]) == ("ConfigMap", "a")
    assert (event["metadata"]["uid"], event["metadata"]["resourceVersion"]) == (
        stored["uid"],
        stored["resourceVersion"],
    )
    assert "managedFields" not in event["metadata"]

    unchanged = poll_once(op, cluster, namespace, name)
    assert (unchanged["lastPoll"]["outcome"], unchanged["lastPoll"]["reason"]) == ("Skipped", "NothingNew")

    # b now matches; a changes while it matches (a new version); c changes but is not selected.
    apply(
        cluster,
        config("a", namespace, "ready", note="v2"),
        config("b", namespace, "ready"),
        config("c", namespace, "ready", app="other", note="v2"),
    )
    changed = poll_once(op, cluster, namespace, name)
    assert (changed["lastPoll"]["outcome"], changed["lastPoll"]["items"]) == ("Fired", 2)
    eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 3, what="Jobs for a's change and b")
    assert objects_of_jobs(cluster, namespace, name) == ["a", "a", "b"]

    apply(cluster, config("a", namespace, "waiting", note="v3"))
    off = poll_once(op, cluster, namespace, name)
    assert (off["lastPoll"]["outcome"], off["lastPoll"]["reason"]) == ("Skipped", "NothingNew")
    apply(cluster, config("a", namespace, "ready", note="v4"))
    back = poll_once(op, cluster, namespace, name)
    assert (back["lastPoll"]["outcome"], back["lastPoll"]["items"]) == ("Fired", 1)
    eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 4, what="a Job for a matching again")
    assert [p["outcome"] for p in back["recentPolls"]] == ["Fired", "Skipped", "Fired", "Skipped", "Fired"]


def test_objects_wait_for_their_batch_to_age_then_make_one_job(
    cluster: Cluster, namespace: str, op: InProcessOperator
) -> None:
    apply(cluster, *(config(n, namespace, "ready") for n in ("a", "b", "c")))
    manifest = config_sensor("batched", namespace, batch={"maxItems": 10, "maxWaitSeconds": 600})
    name = created(cluster, namespace, manifest)

    first = first_poll(op, cluster, namespace, name)
    assert (first["lastPoll"]["outcome"], first["lastPoll"]["reason"], first["lastPoll"]["items"]) == (
        "Skipped",
        "BatchWaiting",
        3,
    )
    apply(cluster, config("d", namespace, "ready"))
    second = poll_once(op, cluster, namespace, name)
    assert (second["lastPoll"]["reason"], second["lastPoll"]["items"]) == ("BatchWaiting", 1)
    assert len(second["pendingItems"]) == 4
    assert events_of_jobs(cluster, namespace, name) == []

    aged = poll_once(op, cluster, namespace, name)
    assert aged["lastPoll"]["outcome"] == "Fired"
    assert not aged.get("pendingItems")
    eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 1, what="one Job for the aged batch")
    [batch] = events_of_jobs(cluster, namespace, name)
    assert sorted(data["metadata"]["name"] for data in batch) == ["a", "b", "c", "d"]


@pytest.fixture
def widgets(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A group of its own for a kind `Widget` that does not exist yet; its CRD, once created, is deleted after."""
    group = f"{namespace}.jobwire.test"
    try:
        yield group
    finally:
        cluster.kubectl("delete", "crd", f"widgets.{group}", "--ignore-not-found", "--wait=false", check=False)


def widget_crd(group: str) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}],
        },
    }


def test_a_kind_that_is_not_served_fails_and_backs_off_until_it_is(
    cluster: Cluster, namespace: str, op: InProcessOperator, widgets: str
) -> None:
    interval = timedelta(minutes=2)
    source = {"kubernetes": {"apiVersion": f"{widgets}/v1", "kind": "Widget", "labelSelector": "app=etl"}}
    name = created(cluster, namespace, sensor("widgets", namespace, source, interval="2m"))

    first = first_poll(op, cluster, namespace, name)
    assert first["lastPoll"]["outcome"] == "Failed"
    assert first["lastPoll"]["reason"].startswith("UnknownKind: ")
    healthy = condition(first, "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "UnknownKind")
    assert widgets in healthy["message"]
    # Each failure doubles the wait, up to 10 minutes.
    assert (first["consecutiveFailures"], next_poll_delay(first)) == (1, 2 * interval)
    second = poll_once(op, cluster, namespace, name, by=2 * interval)
    assert (second["consecutiveFailures"], next_poll_delay(second)) == (2, 4 * interval)
    third = poll_once(op, cluster, namespace, name, by=4 * interval)
    assert (third["consecutiveFailures"], next_poll_delay(third)) == (3, timedelta(minutes=10))

    apply(cluster, widget_crd(widgets))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/widgets.{widgets}")
    widget = {
        "apiVersion": f"{widgets}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": namespace, "labels": {"app": "etl"}},
        "spec": {"size": 3},
    }
    eventually(lambda: cluster.apply(widget).returncode == 0, what="the new kind to be served")
    recovered = poll_once(op, cluster, namespace, name, by=timedelta(minutes=10))
    assert (recovered["lastPoll"]["outcome"], recovered["consecutiveFailures"]) == ("Fired", 0)
    assert condition(recovered, "Healthy")["status"] == "True"
    assert next_poll_delay(recovered) == interval
    eventually(lambda: objects_of_jobs(cluster, namespace, name) == ["w1"], what="the Job after recovery")
    assert events_of_jobs(cluster, namespace, name)[0]["kind"] == "Widget"


def test_seen_versions_survive_an_operator_restart(cluster: Cluster, namespace: str) -> None:
    clock = SteppedClock()
    apply(cluster, config("a", namespace, "ready"), config("b", namespace, "ready"))
    with in_process_operator(cluster.kubeconfig, namespace, clock) as first:
        name = created(cluster, namespace, config_sensor("durable", namespace))
        first_poll(first, cluster, namespace, name)
        eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 2, what="2 Jobs")

    apply(cluster, config("b", namespace, "ready", note="v2"), config("c", namespace, "ready"))
    with in_process_operator(cluster.kubeconfig, namespace, clock) as second:
        poll_after_start(second, cluster, namespace, name)
        eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 4, what="b's change and c, not a")
    assert objects_of_jobs(cluster, namespace, name) == ["a", "b", "b", "c"]


def test_a_list_of_many_pages_is_read_to_its_end(
    cluster: Cluster, namespace: str, op: InProcessOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine builds its pollers from the registry: this one lists two objects per call.
    monkeypatch.setitem(POLLERS, "kubernetes", functools.partial(KubernetesPoller, page_size=2))
    names = [f"c{index}" for index in range(7)]
    apply(cluster, *(config(n, namespace, "ready") for n in names))
    name = created(cluster, namespace, config_sensor("paged", namespace))

    first = first_poll(op, cluster, namespace, name)

    assert (first["lastPoll"]["outcome"], first["lastPoll"]["items"]) == ("Fired", 7)
    eventually(lambda: objects_of_jobs(cluster, namespace, name) == names, what="a Job for each of the 7 objects")

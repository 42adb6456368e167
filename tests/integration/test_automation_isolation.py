"""An Automation sees the events of its own namespace only — with one operator watching the whole cluster.

Its own module: the cluster-wide operator (the `operator` fixture) lives for the module, and must not meet the
in-process operators of other modules' tests."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from tests.support.builders import schedule
from tests.support.kube import Cluster, scratch_namespace, status_of
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    with scratch_namespace(cluster) as name:
        yield name


def test_an_automation_never_sees_another_namespaces_events(
    cluster: Cluster, namespace: str, other_namespace: str, operator: OperatorProcess, hourly: str
) -> None:
    every_tick = {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Automation",
        "metadata": {"name": "ticks", "namespace": namespace},
        "spec": {"trigger": {"match": {"type": ["jobwire.schedule.tick"]}}, "actions": [{"emit": {"type": "seen"}}]},
    }
    assert (
        cluster.apply(
            every_tick, schedule("theirs", other_namespace, cron=hourly), schedule("mine", namespace, cron=hourly)
        ).returncode
        == 0
    )

    def ready(ns: str, resource: str, name: str) -> bool:
        conditions = status_of(cluster, resource, ns, name).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    for ns, resource, name in (
        (namespace, "automations.jobwire.io", "ticks"),
        (other_namespace, "schedules.jobwire.io", "theirs"),
        (namespace, "schedules.jobwire.io", "mine"),
    ):
        eventually(partial(ready, ns, resource, name), what=f"{name} Ready")
    cluster.kubectl(
        "annotate", "schedules.jobwire.io", "theirs", "-n", other_namespace, "jobwire.io/run-requested-at=theirs-1"
    )
    eventually(
        lambda: (status_of(cluster, "schedules.jobwire.io", other_namespace, "theirs").get("lastRun") or {}).get(
            "result"
        ),
        what="their run finished",
    )
    cluster.kubectl("annotate", "schedules.jobwire.io", "mine", "-n", namespace, "jobwire.io/run-requested-at=1")
    mine = eventually(
        lambda: (status_of(cluster, "schedules.jobwire.io", namespace, "mine").get("lastRun") or {}).get("eventId"),
        what="my run",
    )

    def fired_on_mine() -> list[dict[str, Any]] | None:
        firings = status_of(cluster, "automations.jobwire.io", namespace, "ticks").get("recentFirings") or []
        return firings if any(mine in f.get("eventIds", []) for f in firings) else None

    # Their tick came first and was not counted: the one firing is on my tick.
    firings = eventually(fired_on_mine, what="the firing on my own tick")
    assert [f["eventIds"] for f in firings] == [[mine]]

"""SIGKILL the operator while a Schedule ticks, twice: every tick still makes exactly one Job, none is lost.

Runs `jobwire run` as a real process on the real clock (a 2-second interval keeps it short).
"""

from __future__ import annotations

import itertools
import json
import signal
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.builders import schedule
from tests.support.kube import Cluster
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster


def scheduled(cluster: Cluster, namespace: str) -> list[datetime]:
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", "jobwire.io/name=tick2s", "-o", "json").stdout
    stamps = [j["metadata"]["annotations"]["jobwire.io/scheduled-time"] for j in json.loads(out)["items"]]
    return sorted(datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps)


def test_sigkill_never_doubles_or_loses_a_tick(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    operator.start()
    manifest = schedule("tick2s", namespace, interval="2s", catchUp="All", maxRuns=100, successfulJobsHistoryLimit=1000)
    assert cluster.apply(manifest).returncode == 0
    try:
        for kills in (1, 2):
            floor = len(scheduled(cluster, namespace)) + 3
            eventually(
                lambda f=floor: len(scheduled(cluster, namespace)) >= f,  # type: ignore[misc]
                timeout=60,
                what=f"{floor} ticks before kill {kills}",
            )
            assert operator.stop(signal.SIGKILL) == -signal.SIGKILL
            operator.start()
        floor = len(scheduled(cluster, namespace)) + 3
        eventually(lambda: len(scheduled(cluster, namespace)) >= floor, timeout=60, what="ticks after restarts")
        manifest["spec"]["suspend"] = True
        assert cluster.apply(manifest).returncode == 0
        eventually(
            lambda: any(
                c["reason"] == "Suspended"
                for c in cluster.get("schedules.jobwire.io", "tick2s", namespace)["status"]["conditions"]
            ),
            what="the schedule to be suspended",
        )
    finally:
        operator.stop()
    times = scheduled(cluster, namespace)
    assert not [t for t, n in Counter(times).items() if n > 1], "a tick made two Jobs"
    gaps = [(a, b) for a, b in itertools.pairwise(times) if b - a != timedelta(seconds=2)]
    assert gaps == [], f"ticks lost across the kills: {gaps}"
    assert len(times) >= 9

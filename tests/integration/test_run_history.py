"""Each event runs once beyond what the cluster still holds: Jobs deleted by the history limits, and runs older than
`status.recentRuns`, across restarts and failovers — `jobwire run` as a separate process, on the real clock.

- A retried delivery whose Job the history limit deleted is a duplicate (`status.prunedJobs`), on the replica
  that recorded the deletion, after a restart, and on another replica that only watched it.

docs/reliability.md lists these with the other fault tests.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobwire.jobs.history import pruned_key
from tests.integration.test_high_availability import fresh_namespace, known_to, start_replicas, stop_replicas
from tests.support.builders import webhook
from tests.support.faults import jobs_of
from tests.support.kube import Cluster
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

WEBHOOKS = "webhooks.jobwire.io"


def status_of(cluster: Cluster, plural: str, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get(plural, name, namespace).get("status") or {}
    return found


def webhook_path(cluster: Cluster, namespace: str, name: str) -> str:
    def path() -> str | None:
        status = status_of(cluster, WEBHOOKS, namespace, name)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        return str(status["url"]) if ready and status.get("url") else None

    return eventually(path, what=f"webhook {name} to be Ready")


def deliver(url: str, key: str) -> httpx.Response:
    return httpx.post(url, json={"key": key}, headers={"Idempotency-Key": key}, timeout=30)


def job_names(cluster: Cluster, namespace: str, producer: str) -> list[str]:
    return sorted(j["metadata"]["name"] for j in jobs_of(cluster, namespace, producer))


def succeeded(cluster: Cluster, namespace: str, name: str) -> int:
    return int((status_of(cluster, WEBHOOKS, namespace, name).get("totals") or {}).get("succeeded", 0))


def run_and_prune(cluster: Cluster, namespace: str, url: str) -> tuple[dict[str, Any], str]:
    """Deliver A and wait for its Job to succeed, deliver B: the limit of 1 deletes A's Job once B's has succeeded.
    Returns A's answer and the name of B's Job."""
    first = deliver(url, "A")
    assert first.status_code == 202, first.text
    [a] = first.json()["jobs"]
    eventually(lambda: succeeded(cluster, namespace, "w") == 1, timeout=60, what="A's Job to succeed")
    second = deliver(url, "B")
    assert second.status_code == 202, second.text
    [b] = second.json()["jobs"]
    eventually(lambda: job_names(cluster, namespace, "w") == [b], timeout=60, what="the limit to delete A's Job")
    assert status_of(cluster, WEBHOOKS, namespace, "w")["prunedJobs"] == [pruned_key(a)]
    return first.json(), b


def assert_duplicate(url: str, key: str, answer: dict[str, Any]) -> None:
    again = deliver(url, key)
    assert again.status_code == 200, again.text
    assert again.json() == {**answer, "duplicate": True}


def test_a_retry_after_the_history_limit_deleted_its_job_is_a_duplicate(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """docs/reliability.md's reproduction: successfulJobsHistoryLimit 1; deliver A, deliver B, A's Job is deleted,
    deliver A again: `200 duplicate` naming A's Job, and no new Job — also after the operator was SIGKILLed and
    started again (memory gone: the status remembers)."""
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    assert cluster.apply(webhook("w", namespace, {"type": "none"}, successfulJobsHistoryLimit=1)).returncode == 0
    operator.start()
    try:
        url = f"{operator.webhook_url}{webhook_path(cluster, namespace, 'w')}"
        answer_a, b = run_and_prune(cluster, namespace, url)
        assert_duplicate(url, "A", answer_a)
        assert job_names(cluster, namespace, "w") == [b], "a second Job for A"

        assert operator.stop(signal.SIGKILL) == -signal.SIGKILL
        operator.start()
        assert_duplicate(url, "A", answer_a)
        fresh = deliver(url, "C")
        assert fresh.status_code == 202, fresh.text
        [c] = fresh.json()["jobs"]
        eventually(lambda: job_names(cluster, namespace, "w") == [c], timeout=60, what="C's Job, B's deleted")
        totals = status_of(cluster, WEBHOOKS, namespace, "w")["totals"]
        assert (totals["created"], totals.get("skipped", 0)) == (3, 0)
    finally:
        stopped = operator.stop()
    assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"


def test_a_replica_that_does_not_lead_knows_the_jobs_the_leader_deleted(cluster: Cluster, tmp_path: Path) -> None:
    """Two replicas: the leader's tracker deletes A's Job; the retry of A reaches the other replica, which learnt
    of the deletion from its watch of the Webhook alone: `200 duplicate`, no new Job."""
    namespace = fresh_namespace(cluster)
    replicas = start_replicas(cluster, namespace, tmp_path)
    try:
        leader, follower, _, _ = replicas.roles()
        assert cluster.apply(webhook("w", namespace, {"type": "none"}, successfulJobsHistoryLimit=1)).returncode == 0
        path = webhook_path(cluster, namespace, "w")
        eventually(lambda: known_to(follower, path), what="the follower to know the Webhook")
        answer_a, b = run_and_prune(cluster, namespace, f"{leader.webhook_url}{path}")
        assert_duplicate(f"{follower.webhook_url}{path}", "A", answer_a)
        assert job_names(cluster, namespace, "w") == [b], "the follower made a second Job for A"
    finally:
        stop_replicas(replicas)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

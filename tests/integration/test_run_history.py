"""Each event runs once beyond what the cluster still holds: Jobs deleted by the history limits, and runs older than
`status.recentRuns`, across restarts and failovers — `jobwire run` as a separate process, on the real clock.

- A retried delivery whose Job the history limit deleted is a duplicate (`status.prunedJobs`), on the replica
  that recorded the deletion, after a restart, and on another replica that only watched it.
- A restart, whose watch replays every finished Job the history limits keep, counts none of them again — also
  those older than the 20 of `status.recentRuns` (`status.countedBefore`).

docs/reliability.md lists these with the other fault tests.
"""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobwire.dev.reposted import as_posted
from jobwire.events.model import ProducerRef
from jobwire.jobs.history import pruned_key
from jobwire.jobs.naming import job_name
from tests.integration.test_faults import counting
from tests.integration.test_high_availability import known_to, start_replicas, stop_replicas
from tests.support.builders import job_template, webhook
from tests.support.faults import jobs_of
from tests.support.kube import Cluster, runner_namespace, status_of
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

AUTOMATIONS = "automations.jobwire.io"
WEBHOOKS = "webhooks.jobwire.io"


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
    namespace = runner_namespace(cluster, "ha")
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


def told_succeeded(cluster: Cluster, namespace: str) -> Counter[str]:
    """JobSucceeded Events by Job (several close together are folded into one Event that lists them)."""
    out = cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    return Counter(
        name
        for event in json.loads(out)["items"]
        if event["reason"] == "JobSucceeded"
        for name in re.findall(r"Job (\S+) succeeded", event["message"])
    )


def test_a_restart_counts_no_finished_job_again_not_even_those_older_than_recent_runs(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """docs/reliability.md's reproduction: 25 Jobs succeed (successfulJobsHistoryLimit 50 keeps them all, more
    than the 20 of recentRuns); the operator is SIGKILLed and started again, and its watch replays all 25. Then
    one more delivery. totals end at 26, and no Job's JobSucceeded Event nor jobwire.job.succeeded event goes out
    twice: an Automation made just before the restart (nothing to remember) counts only the new Job's."""
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    assert cluster.apply(webhook("w", namespace, {"type": "none"}, successfulJobsHistoryLimit=50)).returncode == 0
    operator.start()
    try:
        url = f"{operator.webhook_url}{webhook_path(cluster, namespace, 'w')}"
        made = []
        for n in range(25):
            answer = deliver(url, f"d-{n}")
            assert answer.status_code == 202, answer.text
            made.extend(answer.json()["jobs"])
        eventually(lambda: succeeded(cluster, namespace, "w") == 25, timeout=120, what="25 Jobs to succeed")
        before = status_of(cluster, WEBHOOKS, namespace, "w")
        assert len(before["recentRuns"]) == 20
        assert before["countedBefore"]
        eventually(lambda: told_succeeded(cluster, namespace) == Counter(made), what="the 25 JobSucceeded Events")
        assert cluster.apply(counting("late", namespace, "jobwire.job.succeeded")).returncode == 0
        eventually(
            lambda: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in status_of(cluster, AUTOMATIONS, namespace, "late").get("conditions") or []
            ),
            what="the late Automation to be Ready",
        )

        assert operator.stop(signal.SIGKILL) == -signal.SIGKILL
        operator.start()
        after = deliver(url, "d-after")
        assert after.status_code == 202, after.text
        made.extend(after.json()["jobs"])
        eventually(lambda: succeeded(cluster, namespace, "w") >= 26, timeout=60, what="the new Job to succeed")
        eventually(lambda: told_succeeded(cluster, namespace)[made[-1]] == 1, what="the new Job's Event")
        eventually(
            lambda: status_of(cluster, AUTOMATIONS, namespace, "late").get("triggerCount", 0) >= 1,
            what="the late Automation to count the new Job",
        )
    finally:
        stopped = operator.stop()
    assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"
    assert status_of(cluster, WEBHOOKS, namespace, "w")["totals"] == {
        "created": 26,
        "succeeded": 26,
        "failed": 0,
        "skipped": 0,
    }
    assert told_succeeded(cluster, namespace) == Counter(made), "a JobSucceeded Event went out twice"
    late = status_of(cluster, AUTOMATIONS, namespace, "late")
    fired_on = [e for f in late.get("recentFirings") or [] for e in f["eventIds"]]
    assert late["triggerCount"] == 1, f"jobwire.job.succeeded events sent again: {fired_on}"


def running_and_created(cluster: Cluster, namespace: str, name: str) -> tuple[int, int]:
    status = status_of(cluster, WEBHOOKS, namespace, name)
    return int(status.get("activeCount") or 0), int((status.get("totals") or {}).get("created", 0))


def made_while_nobody_watched(cluster: Cluster, namespace: str, producer: str, event_id: str) -> str:
    """A Job of `producer` for `event_id`, as a follower's receiver makes it while no replica leads (a failover):
    one of its Jobs, under the name and event id the pipeline gives the new event. Returns its name."""
    [made, *_] = jobs_of(cluster, namespace, producer)
    job = as_posted(made)
    metadata = job["metadata"]
    owner = next(o for o in metadata["ownerReferences"] if o["kind"] == "Webhook")
    name = job_name(ProducerRef(kind="Webhook", namespace=namespace, name=producer, uid=owner["uid"]), event_id)
    metadata["name"] = name
    metadata["annotations"]["jobwire.io/event-id"] = event_id
    created = cluster.kubectl("create", "-f", "-", input=json.dumps(job), check=False)
    assert created.returncode == 0, created.stderr
    return name


def test_a_restart_with_more_jobs_running_than_active_lists_counts_each_once(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """docs/reliability.md's reproduction: 60 suspended Jobs of one Webhook run, 50 of them in `status.active`. The
    operator is SIGKILLed, and one more Job is made as a follower makes it during a failover. Started again, the
    operator replays all 61 in name order: the 10 beyond `active` are not counted again, the one made while nobody
    watched is. One more delivery after: 62 and 62 (without `status.startsCounted`, 84: each Job counted again went
    into `active` and pushed out an older one, which the replay then took for new too)."""
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    template = job_template()
    template["spec"]["suspend"] = True  # running as far as Jobwire can tell, and no Pods to wait for
    assert cluster.apply(webhook("w", namespace, {"type": "none"}, jobTemplate=template)).returncode == 0
    operator.start()
    try:
        url = f"{operator.webhook_url}{webhook_path(cluster, namespace, 'w')}"
        for n in range(60):
            answer = deliver(url, f"d-{n}")
            assert answer.status_code == 202, answer.text
        eventually(
            lambda: running_and_created(cluster, namespace, "w") == (60, 60), timeout=60, what="60 Jobs recorded"
        )
        before = status_of(cluster, WEBHOOKS, namespace, "w")
        assert len(before["active"]) == 50
        assert before["startsCounted"]["newest"]

        assert operator.stop(signal.SIGKILL) == -signal.SIGKILL
        # A Job made in the same second as the newest start counted is taken for a counted one (docs/reliability.md,
        # a limit by design: creation times are to the second); a follower's, during a failover, comes later.
        newest = datetime.fromisoformat(before["startsCounted"]["newest"].replace("Z", "+00:00"))
        eventually(lambda: datetime.now(UTC) >= newest + timedelta(seconds=1), what="the next second")
        unwatched = made_while_nobody_watched(cluster, namespace, "w", "delivery-d-unwatched")
        operator.start()
        after = deliver(url, "d-after")
        assert after.status_code == 202, after.text
        # The watch lists before it watches, and a producer's records are written in the order they came: once the
        # new Job's is in, so is every record of the replay.
        eventually(
            lambda: (
                (status_of(cluster, WEBHOOKS, namespace, "w").get("lastRun") or {}).get("job")
                == after.json()["jobs"][0]
            ),
            timeout=60,
            what="the new Job's record",
        )
        assert running_and_created(cluster, namespace, "w") == (62, 62)
        assert unwatched in {a["name"] for a in status_of(cluster, WEBHOOKS, namespace, "w")["active"]}
    finally:
        stopped = operator.stop()
    assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"


def test_a_queue_whose_jobs_all_went_while_the_operator_was_down_starts_its_next_event(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """concurrencyPolicy Queue, maxActive 1: A runs, B waits in `status.queue`. The operator is SIGKILLed, A's Job
    is deleted by hand (as a TTL or a history limit of 0 would): no Job is left whose end would drain the queue.
    Started again, the operator starts B on its own (and C, delivered next, queues behind B, not forever)."""
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    hook = webhook(
        "w", namespace, {"type": "none"}, jobTemplate=job_template("hang"), concurrencyPolicy="Queue", maxActive=1
    )
    assert cluster.apply(hook).returncode == 0
    operator.start()
    try:
        url = f"{operator.webhook_url}{webhook_path(cluster, namespace, 'w')}"
        first = deliver(url, "A")
        assert first.status_code == 202, first.text
        [a] = first.json()["jobs"]
        waiting = deliver(url, "B")
        assert waiting.status_code == 202, waiting.text
        assert waiting.json()["queued"] is True, waiting.text
        b_event = waiting.json()["eventId"]

        assert operator.stop(signal.SIGKILL) == -signal.SIGKILL
        cluster.kubectl("delete", "job", a, "-n", namespace, "--cascade=background", "--wait=true")
        assert job_names(cluster, namespace, "w") == []
        operator.start()

        [b] = eventually(lambda: job_names(cluster, namespace, "w") or None, timeout=60, what="B's Job")
        job = cluster.get("jobs.batch", b, namespace)
        assert job["metadata"]["annotations"]["jobwire.io/event-id"] == b_event
        eventually(lambda: not status_of(cluster, WEBHOOKS, namespace, "w").get("queue"), what="the queue to empty")
        late = deliver(url, "C")
        assert late.status_code == 202, late.text
        assert late.json()["queued"] is True, late.text
        assert job_names(cluster, namespace, "w") == [b], "C ran beside B"
    finally:
        stopped = operator.stop()
    assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"

"""Two replicas of `jobwire run --leader-election` on the real control plane: one leads, both serve webhooks.

Each replica is a separate process (OperatorProcess) with short Lease timings (LEASE_SECONDS, RENEW_SECONDS), both
watching one namespace that also holds their Lease. Which one leads is read from the Lease and from each replica's
`jobwire_leader` gauge; what each did is read from its /metrics and from the reportingInstance of the Kubernetes
Events it posted.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobwire.api.common import JobTemplate, QueuedEvent
from jobwire.events.model import Event, ProducerRef
from jobwire.jobs.render import render_run
from tests.support.builders import job_template, schedule, webhook
from tests.support.faults import finish_pods, jobs_of
from tests.support.jsonserver import json_server
from tests.support.kube import Cluster, ready, runner_namespace, status_of
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

LEASE = "jobwire-leader"
LEASE_SECONDS = 4
RENEW_SECONDS = 1
SCHEDULES = "schedules.jobwire.io"
SENSORS = "sensors.jobwire.io"
WEBHOOKS = "webhooks.jobwire.io"
AUTOMATIONS = "automations.jobwire.io"
YEARLY = "0 0 1 1 *"


@dataclass
class Replicas:
    cluster: Cluster
    namespace: str
    by_name: dict[str, OperatorProcess]

    def holder(self) -> str | None:
        found = self.cluster.kubectl(
            "get", "lease", LEASE, "-n", self.namespace, "-o", "jsonpath={.spec.holderIdentity}", check=False
        )
        return (found.stdout.strip() or None) if found.returncode == 0 else None

    def settled(self) -> tuple[str, str] | None:
        """(leader, follower) once the Lease names one replica and exactly that one says it leads."""
        holder = self.holder()
        if holder not in self.by_name:
            return None
        gauges = {name: metric(process, "jobwire_leader") for name, process in self.by_name.items()}
        if gauges[holder] != 1 or sum(gauges.values()) != 1:
            return None
        [other] = [name for name in self.by_name if name != holder]
        return holder, other

    def roles(self) -> tuple[OperatorProcess, OperatorProcess, str, str]:
        leader, follower = eventually(self.settled, timeout=LEASE_SECONDS * 4, what="one replica leading")
        return self.by_name[leader], self.by_name[follower], leader, follower


def metric(process: OperatorProcess, name: str, **labels: str) -> float:
    """The value of one series on a replica's /metrics (0 when the series does not exist yet)."""
    text = httpx.get(f"{process.probe_url}/metrics", timeout=5).text
    for line in text.splitlines():
        match = re.match(r"^([a-z_:]+)(?:\{(.*)\})? (\S+)$", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'([a-z_]+)="([^"]*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match[3])
    return 0.0


def start_replicas(cluster: Cluster, namespace: str, logs: Path) -> Replicas:
    env = {
        "JOBWIRE_LEADER_ELECTION": "true",
        "JOBWIRE_LEADER_ELECTION_NAMESPACE": namespace,
        "JOBWIRE_LEADER_ELECTION_LEASE_NAME": LEASE,
        "JOBWIRE_LEADER_ELECTION_LEASE_SECONDS": str(LEASE_SECONDS),
        "JOBWIRE_LEADER_ELECTION_RENEW_SECONDS": str(RENEW_SECONDS),
    }
    by_name: dict[str, OperatorProcess] = {}
    for name in ("replica-a", "replica-b"):
        by_name[name] = OperatorProcess(
            kubeconfig=cluster.kubeconfig,
            log_path=logs / f"{name}.log",
            namespaces=(namespace,),
            extra_env={**env, "JOBWIRE_LEADER_ELECTION_IDENTITY": name},
        )
        by_name[name].start()
    return Replicas(cluster, namespace, by_name)


def stop_replicas(replicas: Replicas) -> None:
    codes = {name: process.stop() for name, process in replicas.by_name.items() if process.process is not None}
    assert all(code in (0, -signal.SIGKILL) for code in codes.values()), f"unclean stops: {codes}"


@pytest.fixture(scope="module")
def pair(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Two replicas for the tests that leave them running; the failover tests start their own."""
    namespace = runner_namespace(cluster, "ha")
    replicas = start_replicas(cluster, namespace, tmp_path_factory.mktemp("ha"))
    try:
        yield replicas
    finally:
        stop_replicas(replicas)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def apply(cluster: Cluster, *manifests: dict[str, Any]) -> None:
    result = cluster.apply(*manifests)
    assert result.returncode == 0, result.stderr


def jobs(cluster: Cluster, namespace: str, producer: str) -> list[str]:
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={producer}", "-o", "name").stdout
    return sorted(line.split("/", 1)[1] for line in out.split())


def count_jobs(cluster: Cluster, namespace: str, producer: str, expected: int) -> list[str]:
    def check() -> list[str] | None:
        found = jobs(cluster, namespace, producer)
        return found if len(found) == expected else None

    return eventually(check, what=f"{expected} Job(s) of {producer}")


def reporters(cluster: Cluster, namespace: str, name: str, reason: str) -> list[str]:
    """reportingInstance of the Events with `reason` on the object called `name`, once per occurrence (an Event
    may stand for several: its count)."""
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={name},reason={reason}",
        "-o",
        "json",
    ).stdout
    return [
        item.get("reportingInstance", "")
        for item in json.loads(out)["items"]
        for _ in range(int(item.get("count") or 1))
    ]


def run_now(cluster: Cluster, resource: str, namespace: str, name: str, value: str) -> None:
    cluster.kubectl("annotate", resource, name, "-n", namespace, "--overwrite", f"jobwire.io/run-requested-at={value}")


def known_to(process: OperatorProcess, path: str) -> bool:
    """Whether the replica's receiver has the Webhook (a GET to a POST-only Webhook: 405, not 404)."""
    return httpx.get(f"{process.webhook_url}{path}", timeout=5).status_code == 405


def post(process: OperatorProcess, path: str, delivery: str, data: Any) -> httpx.Response:
    return httpx.post(f"{process.webhook_url}{path}", json=data, headers={"Idempotency-Key": delivery}, timeout=30)


# --- one leader, and only the leader acts -----------------------------------------------------------------------


def test_exactly_one_replica_leads_and_holds_the_lease(pair: Replicas) -> None:
    leader, follower, leader_name, _ = pair.roles()
    assert pair.holder() == leader_name
    assert metric(leader, "jobwire_leader") == 1
    assert metric(follower, "jobwire_leader") == 0
    lease = pair.cluster.get("lease", LEASE, pair.namespace)["spec"]
    assert lease["leaseDurationSeconds"] == LEASE_SECONDS


def test_a_run_now_makes_one_job_and_only_the_leader_records_it(pair: Replicas) -> None:
    cluster, ns = pair.cluster, pair.namespace
    leader, follower, leader_name, _ = pair.roles()
    apply(cluster, schedule("manual", ns, cron=YEARLY))
    timing = ready(cluster, SCHEDULES, ns, "manual")["timing"]  # what ticks are planned with, for the next leader
    assert (timing["cron"], timing["suspend"]) == (YEARLY, False)
    run_now(cluster, SCHEDULES, ns, "manual", "first")
    [job] = count_jobs(cluster, ns, "manual", 1)
    eventually(lambda: status_of(cluster, SCHEDULES, ns, "manual").get("runRequestedAt") == "first", what="the echo")
    eventually(
        lambda: (status_of(cluster, SCHEDULES, ns, "manual").get("lastRun") or {}).get("job") == job,
        what="the run recorded (the tracker runs on the leader only)",
    )
    # Recorded by the leader, and by nobody else: its Events, its metrics; the follower made and recorded nothing.
    assert eventually(lambda: reporters(cluster, ns, "manual", "JobCreated"), what="a JobCreated Event") == [
        leader_name
    ]
    assert metric(leader, "jobwire_jobs_created_total", kind="Schedule") == 1
    assert metric(follower, "jobwire_jobs_created_total", kind="Schedule") == 0
    assert metric(follower, "jobwire_events_total", kind="Schedule", type="jobwire.schedule.tick") == 0
    assert jobs(cluster, ns, "manual") == [job]


def test_a_sensor_polls_from_the_leader_only_even_when_the_follower_is_asked(pair: Replicas) -> None:
    cluster, ns = pair.cluster, pair.namespace
    leader, follower, _, _ = pair.roles()
    with json_server() as server:
        server.serve({"items": [{"id": "a"}]})
        source = {"http": {"url": server.url, "items": "response.items", "key": "item.id"}}
        apply(
            cluster,
            {
                "apiVersion": "jobwire.io/v1alpha1",
                "kind": "Sensor",
                "metadata": {"name": "feed", "namespace": ns},
                "spec": {"interval": "1h", "source": source, "jobTemplate": job_template()},
            },
            {
                "apiVersion": "jobwire.io/v1alpha1",
                "kind": "Webhook",
                "metadata": {"name": "poke", "namespace": ns},
                "spec": {"auth": {"type": "none"}, "target": {"sensor": "feed"}},
            },
        )
        ready(cluster, SENSORS, ns, "feed")
        run_now(cluster, SENSORS, ns, "feed", "now-1")
        count_jobs(cluster, ns, "feed", 1)
        # A Webhook's nudge of the Sensor taken by the follower: forwarded, polled by the leader.
        path = ready(cluster, WEBHOOKS, ns, "poke")["url"]
        eventually(lambda: known_to(follower, path), what="the follower to know the Webhook")
        server.serve({"items": [{"id": "a"}, {"id": "b"}]})
        answer = post(follower, path, "poke-1", {})
        assert answer.status_code == 202, answer.text
        assert answer.json()["nudged"] == ["feed"]
        count_jobs(cluster, ns, "feed", 2)
        eventually(lambda: not status_of(cluster, WEBHOOKS, ns, "poke").get("forwarded"), what="the forward consumed")
    polls = {"source": "http", "outcome": "Fired"}
    assert metric(leader, "jobwire_sensor_polls_total", **polls) == 2
    assert metric(follower, "jobwire_sensor_polls_total", **polls) == 0
    assert metric(follower, "jobwire_sensor_polls_total", source="http", outcome="Skipped") == 0
    assert metric(follower, "jobwire_webhook_forwarded_total", step="sent") >= 1
    assert metric(leader, "jobwire_webhook_forwarded_total", step="consumed") >= 1


def test_webhook_requests_to_either_replica_make_their_job_once(pair: Replicas) -> None:
    cluster, ns = pair.cluster, pair.namespace
    leader, follower, _, _ = pair.roles()
    apply(cluster, webhook("build", ns, {"type": "none"}))
    path = ready(cluster, WEBHOOKS, ns, "build")["url"]
    eventually(lambda: known_to(follower, path), what="the follower to know the Webhook")
    first = post(follower, path, "d-1", {"n": 1})
    assert first.status_code == 202, first.text
    [job] = first.json()["jobs"]
    assert jobs(cluster, ns, "build") == [job]  # it exists when the 202 comes
    again = post(leader, path, "d-1", {"n": 1})
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "duplicate": True}
    other = post(leader, path, "d-2", {"n": 2})
    assert other.status_code == 202, other.text
    assert post(follower, path, "d-2", {"n": 2}).status_code == 200
    assert jobs(cluster, ns, "build") == sorted([job, *other.json()["jobs"]])
    # Nothing an Automation could want: the follower forwarded nothing.
    assert not status_of(cluster, WEBHOOKS, ns, "build").get("forwarded")


def test_an_automation_on_the_leader_takes_an_event_from_the_followers_receiver_once(pair: Replicas) -> None:
    cluster, ns = pair.cluster, pair.namespace
    leader, follower, _, _ = pair.roles()
    apply(
        cluster,
        {
            "apiVersion": "jobwire.io/v1alpha1",
            "kind": "Webhook",
            "metadata": {"name": "orders", "namespace": ns},
            "spec": {"auth": {"type": "none"}, "eventType": "order.failed"},
        },
        {
            "apiVersion": "jobwire.io/v1alpha1",
            "kind": "Automation",
            "metadata": {"name": "on-failure", "namespace": ns},
            "spec": {
                "trigger": {"match": {"type": ["order.failed"]}},
                "actions": [{"runJob": {"jobTemplate": job_template()}}],
            },
        },
    )
    ready(cluster, AUTOMATIONS, ns, "on-failure")
    path = ready(cluster, WEBHOOKS, ns, "orders")["url"]
    eventually(lambda: known_to(follower, path), what="the follower to know the Webhook")
    sent_before = metric(follower, "jobwire_webhook_forwarded_total", step="sent")
    answer = post(follower, path, "o-1", {"order": 1})
    assert answer.status_code == 202, answer.text
    first_id = answer.json()["eventId"]
    [job] = count_jobs(cluster, ns, "on-failure", 1)
    assert metric(follower, "jobwire_webhook_forwarded_total", step="sent") == sent_before + 1
    # The same delivery again, through the follower (forwarded again, dropped by the leader) and the leader.
    assert post(follower, path, "o-1", {"order": 1}).status_code == 202
    eventually(lambda: not status_of(cluster, WEBHOOKS, ns, "orders").get("forwarded"), what="the forward consumed")
    assert post(leader, path, "o-1", {"order": 1}).status_code == 202
    # A new event: once its firing is recorded, every firing before it is too (one Automation's run in order).
    second = post(follower, path, "o-2", {"order": 2})
    assert second.status_code == 202, second.text

    def fired_for_second() -> dict[str, Any] | None:
        current = status_of(cluster, AUTOMATIONS, ns, "on-failure")
        seen = [event for firing in current.get("recentFirings") or [] for event in firing.get("eventIds") or []]
        return current if second.json()["eventId"] in seen else None

    current = eventually(fired_for_second, what="the firing of the second event")
    assert current["triggerCount"] == 2
    fired = sorted(event for firing in current["recentFirings"] for event in firing["eventIds"])
    assert fired == sorted([first_id, second.json()["eventId"]])
    assert job in count_jobs(cluster, ns, "on-failure", 2)
    assert metric(follower, "jobwire_automation_firings_total") == 0


# --- failover ------------------------------------------------------------------------------------------------------


@pytest.fixture
def own_pair(cluster: Cluster, tmp_path: Path) -> Iterator[Replicas]:
    namespace = runner_namespace(cluster, "ha")
    replicas = start_replicas(cluster, namespace, tmp_path)
    try:
        yield replicas
    finally:
        stop_replicas(replicas)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_sigkill_of_the_leader_the_other_takes_over_within_the_lease_and_work_goes_on(
    own_pair: Replicas,
) -> None:
    cluster, ns = own_pair.cluster, own_pair.namespace
    leader, follower, leader_name, follower_name = own_pair.roles()
    apply(cluster, schedule("nightly", ns, cron=YEARLY))
    ready(cluster, SCHEDULES, ns, "nightly")
    run_now(cluster, SCHEDULES, ns, "nightly", "before")
    count_jobs(cluster, ns, "nightly", 1)

    killed = time.monotonic()
    assert leader.stop(signal.SIGKILL) == -signal.SIGKILL
    run_now(cluster, SCHEDULES, ns, "nightly", "during")  # nobody leads: the next leader finds it on taking over
    eventually(lambda: own_pair.holder() == follower_name, timeout=LEASE_SECONDS * 4, what="the Lease to move")
    lease_moved = time.monotonic() - killed
    eventually(lambda: metric(follower, "jobwire_leader") == 1, what="the follower to lead")
    leading = time.monotonic() - killed
    count_jobs(cluster, ns, "nightly", 2)
    during = time.monotonic() - killed
    run_now(cluster, SCHEDULES, ns, "nightly", "after")
    count_jobs(cluster, ns, "nightly", 3)
    print(
        f"\nfailover after SIGKILL (lease {LEASE_SECONDS}s, renew {RENEW_SECONDS}s): Lease taken over in "
        f"{lease_moved:.2f}s, the new leader leading in {leading:.2f}s, the Job of the run-now requested during "
        f"the failover made {during:.2f}s after the kill"
    )
    # The bound: a follower saw the last renewal at most one renew period late, then waited the lease out.
    assert leading <= LEASE_SECONDS + RENEW_SECONDS + 1.5
    assert cluster.get("lease", LEASE, ns)["spec"]["leaseTransitions"] >= 1
    eventually(lambda: status_of(cluster, SCHEDULES, ns, "nightly").get("runRequestedAt") == "after", what="the echo")
    # "before" was made and recorded by the old leader; "during" and "after" by the new one.
    eventually(
        lambda: sorted(reporters(cluster, ns, "nightly", "JobCreated")) == sorted([leader_name, *[follower_name] * 2]),
        what="the JobCreated Events, each from the leader of its time",
    )
    assert metric(follower, "jobwire_jobs_created_total", kind="Schedule") == 2


def test_a_leader_stopped_cleanly_hands_over_at_once(own_pair: Replicas) -> None:
    leader, follower, _, follower_name = own_pair.roles()
    assert leader.process is not None
    stopped = time.monotonic()
    leader.process.send_signal(signal.SIGTERM)
    eventually(lambda: own_pair.holder() == follower_name, what="the Lease to move")
    eventually(lambda: metric(follower, "jobwire_leader") == 1, what="the follower to lead")
    handover = time.monotonic() - stopped
    print(f"\nhandover after SIGTERM: {handover:.2f}s (the Lease released, not waited out)")
    # Released at once on SIGTERM: the follower takes it at its next look, well before the Lease would expire.
    assert handover < LEASE_SECONDS
    assert leader.stop() == 0
    assert "released the Lease" in leader.log()


def test_events_queued_when_the_leader_is_killed_run_once_and_in_order(own_pair: Replicas) -> None:
    """A Webhook under concurrencyPolicy Queue (maxActive 1) runs one Job at a time; four deliveries wait in
    `status.queue` behind the first, taken by either replica. The leader is SIGKILLed in the middle of starting
    the next: the Job of the queue's head exists, the head is still queued (made here by hand, exactly as the
    leader renders it: a kill cannot be timed between two API calls). The running Job finishes while nobody leads,
    and one more delivery is queued through the survivor during the failover. The new leader starts the waiting
    events one by one as each Job finishes: every event gets exactly one Job, in the order the events were
    queued, and none runs while another does."""
    cluster, ns = own_pair.cluster, own_pair.namespace
    leader, follower, _, follower_name = own_pair.roles()
    hanging = job_template("hang")
    apply(
        cluster,
        webhook(
            "serial",
            ns,
            {"type": "none"},
            jobTemplate=hanging,
            concurrencyPolicy="Queue",
            maxActive=1,
            successfulJobsHistoryLimit=10,
        ),
    )
    path = ready(cluster, WEBHOOKS, ns, "serial")["url"]
    eventually(lambda: known_to(follower, path), what="the follower to know the Webhook")

    first = post(leader, path, "q-0", {"n": 0})
    assert first.status_code == 202, first.text
    [running] = first.json()["jobs"]
    order = [first.json()["eventId"]]
    # Queued behind it, through both replicas in turn: the queue in status is the order.
    for n, replica in zip(range(1, 5), (follower, leader, follower, leader), strict=True):
        answer = post(replica, path, f"q-{n}", {"n": n})
        assert answer.status_code == 202, answer.text
        assert answer.json()["queued"] is True, answer.text
        order.append(answer.json()["eventId"])
    queued = [item["id"] for item in status_of(cluster, WEBHOOKS, ns, "serial").get("queue") or []]
    assert queued == order[1:]
    eventually(lambda: pods_of(cluster, ns, running), what=f"the Pod of {running}")

    assert leader.stop(signal.SIGKILL) == -signal.SIGKILL
    head = made_by_a_leader_that_died(cluster, ns, "serial")
    finish_pods(cluster, ns, running)  # finishes while nobody leads: the next leader finds it done
    late = post(follower, path, "q-5", {"n": 5})
    assert late.status_code == 202, late.text
    assert late.json()["queued"] is True, late.text
    order.append(late.json()["eventId"])
    eventually(lambda: own_pair.holder() == follower_name, timeout=LEASE_SECONDS * 4, what="the Lease to move")

    made = [running]  # Job names, in the order they appeared
    for expected in order[1:]:

        def next_job() -> dict[str, Any] | None:
            fresh = [j for j in jobs_of(cluster, ns, "serial") if j["metadata"]["name"] not in made]
            assert len(fresh) <= 1, f"two Jobs at once: {[j['metadata']['name'] for j in fresh]}"
            return fresh[0] if fresh else None

        job = eventually(next_job, timeout=60, what=f"the Job of {expected}")
        assert job["metadata"]["annotations"]["jobwire.io/event-id"] == expected, "out of order"
        made.append(job["metadata"]["name"])
        unfinished = [j["metadata"]["name"] for j in jobs_of(cluster, ns, "serial") if not finished(j)]
        assert unfinished == [made[-1]], f"more than one Job running: {unfinished}"
        eventually(lambda j=made[-1]: pods_of(cluster, ns, j), what=f"the Pod of {made[-1]}")  # type: ignore[misc]
        finish_pods(cluster, ns, made[-1])

    def settled() -> dict[str, Any] | None:
        current = status_of(cluster, WEBHOOKS, ns, "serial")
        totals = current.get("totals") or {}
        return current if totals.get("succeeded") == len(order) and not current.get("queue") else None

    final = eventually(settled, timeout=60, what="every queued event run and counted")
    assert final["totals"]["created"] == len(order)
    all_jobs = jobs_of(cluster, ns, "serial")
    assert sorted(j["metadata"]["name"] for j in all_jobs) == sorted(made)
    ids = [j["metadata"]["annotations"]["jobwire.io/event-id"] for j in all_jobs]
    assert sorted(ids) == sorted(order), "an event ran twice or not at all"
    # The API server's own clock agrees with the order the Jobs appeared in (to the second).
    created = {j["metadata"]["name"]: j["metadata"]["creationTimestamp"] for j in all_jobs}
    assert [created[name] for name in made] == sorted(created[name] for name in made)
    # Each made once: one JobCreated Event per Job, whichever leader made it.
    # (Events close together are folded into one that lists them: count every "Created Job NAME" it lists.)
    created_events = Counter(
        name
        for e in json.loads(cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
        if e["reason"] == "JobCreated"
        for name in re.findall(r"Created Job (\S+)", e["message"])
    )
    assert created_events == Counter(name for name in made if name != head)


def made_by_a_leader_that_died(cluster: Cluster, namespace: str, webhook_name: str) -> str:
    """Create the Job of the queue's head as `Pipeline.drain_queue` does, and leave the head queued: what a leader
    killed between creating that Job and taking its event out of the queue leaves behind. Returns its name."""
    hook = cluster.get(WEBHOOKS, webhook_name, namespace)
    item = QueuedEvent.model_validate(hook["status"]["queue"][0])
    ref = ProducerRef(kind="Webhook", namespace=namespace, name=webhook_name, uid=hook["metadata"]["uid"])
    when = item.time or datetime.now(UTC)
    event = Event(id=item.id, source=item.source, type=item.type, time=when, subject=item.subject, data=item.data)
    job = render_run(ref, JobTemplate.model_validate(hook["spec"]["jobTemplate"]), event, ()).job
    made = cluster.kubectl("create", "-f", "-", input=json.dumps(job), check=False)
    assert made.returncode == 0, made.stderr
    return str(job["metadata"]["name"])


def finished(job: dict[str, Any]) -> bool:
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def pods_of(cluster: Cluster, namespace: str, job: str) -> list[str]:
    return cluster.kubectl("get", "pods", "-n", namespace, "-l", f"job-name={job}", "-o", "name").stdout.split()

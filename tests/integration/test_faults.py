"""Faults on the real control plane, against `jobwire run` as a separate process on the real clock.

- the operator SIGKILLed in the middle of a burst of webhook deliveries that their sender retries;
- the API server down while Schedules tick, Sensors poll and webhooks are called;
- the operator down while the Jobs it made finish;
- every secret the operator reads kept out of its logs, status, Events and metrics.

Each test runs an operator of its own, watching the test's namespace only. docs/reliability.md lists them with
the other tests that cover reliability.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from jobwire.controllers.automations import AutomationController
from jobwire.kube.api import JSON
from jobwire.leader.gate import JOBS, Leadership
from jobwire.sensors.logic import item_event_id, key_digest
from tests.support.builders import job_template, schedule, secret, webhook
from tests.support.faults import ControlPlane, Delivery, RetryingSender, finish_pods, items_server, jobs_of
from tests.support.inprocess import in_process_operator
from tests.support.jsonserver import json_server
from tests.support.kube import Cluster, status_of
from tests.support.operator import OperatorProcess, free_port
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

AUTOMATIONS = "automations.jobwire.io"
WEBHOOKS = "webhooks.jobwire.io"
RUN_REQUESTED = "jobwire.io/run-requested-at"
SCHEDULES = "schedules.jobwire.io"
SENSORS = "sensors.jobwire.io"
TICK = timedelta(seconds=2)
OUTAGE_SECONDS = 20.0
T = TypeVar("T")


def ready_url(cluster: Cluster, operator: OperatorProcess, namespace: str, name: str) -> str:
    """The full URL of a Webhook, once it is Ready."""

    def url() -> str | None:
        status = cluster.get(WEBHOOKS, name, namespace).get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        return f"{operator.webhook_url}{status['url']}" if ready and status.get("url") else None

    return eventually(url, what=f"webhook {name} to be Ready")


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def event_ids(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["metadata"]["annotations"]["jobwire.io/event-id"] for j in jobs]


def http_sensor(name: str, namespace: str, url: str, **spec: Any) -> dict[str, Any]:
    """A Sensor polling `url` every second for `items` keyed by `id`."""
    body = {
        "interval": "1s",
        "source": {"http": {"url": url, "items": "response.items", "key": "item.id"}},
        "jobTemplate": job_template(),
        "successfulJobsHistoryLimit": 100,
        **spec,
    }
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def skipped_ticks(cluster: Cluster, namespace: str, name: str) -> Counter[str]:
    """Ticks a Schedule skipped, by reason, from its `TicksSkipped` Events ("3 tick(s) skipped (Reason), ...")."""
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={name},reason=TicksSkipped",
        "-o",
        "json",
    ).stdout
    counted: Counter[str] = Counter()
    for event in json.loads(out)["items"]:
        found = re.match(r"(\d+) tick\(s\) skipped \((\w+)\)", event["message"])
        assert found is not None, event["message"]
        counted[found[2]] += int(found[1])
    return counted


def refused_for(seconds: float, url: str, headers: dict[str, str]) -> int:
    """Call the webhook twice a second for `seconds` (the API server being down): every call must answer 503 with
    Retry-After, at once (not after the operator's 30 s API timeout). Returns how many were refused."""
    start = time.monotonic()
    calls: list[float] = []

    def refused() -> bool:
        now = time.monotonic()
        if not calls or now - calls[-1] >= 0.5:
            calls.append(now)
            probe = httpx.post(url, content=b"{}", headers={**headers, "Idempotency-Key": f"probe-{len(calls)}"})
            assert probe.status_code == 503, probe.text
            assert probe.json()["reason"] == "ApiUnavailable"
            assert int(probe.headers["Retry-After"]) >= 1
            assert time.monotonic() - now < 5, "a request waited on the dead API server"
        return now - start >= seconds

    eventually(refused, timeout=seconds + 30, what=f"{seconds} s of webhook calls answered 503")
    return len(calls)


def inert_template() -> dict[str, Any]:
    """A Job that no controller runs (`managedBy` names none): no Pod, no status, nothing for the job controller
    to do. 1,000 of them measure the event -> Job path alone, and leave no backlog to the tests after this one
    (the controller-manager works through 1,000 real Jobs at its 20 requests a second for minutes)."""
    template = job_template()
    return {**template, "spec": {**template["spec"], "managedBy": "jobwire.io/no-controller"}}


def test_sigkill_during_a_burst_of_retried_deliveries_makes_each_job_once(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """1,000 deliveries, 8 at a time, each retried with its Idempotency-Key until a 2xx; the operator is SIGKILLed
    after 300 are accepted and started again. Exactly 1,000 Jobs exist afterwards, one per delivery.

    The Jobs are inert (see `inert_template`): running 1,000 Pods on the fake node would double the test's time on
    a 2-core machine and check nothing more about the event -> Job path, which is what a crash can break."""
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    operator.start()
    token = "burst-token-4c1f0a"
    auth = {"type": "token", "token": {"secretRef": {"name": "burst", "key": "token"}}}
    manifests = (
        secret("burst", namespace, token=token),
        webhook("burst", namespace, auth, jobTemplate=inert_template(), successfulJobsHistoryLimit=1000),
    )
    assert cluster.apply(*manifests).returncode == 0
    deliveries = [Delivery(key=f"burst-{i:04d}", body=json.dumps({"n": i}).encode()) for i in range(1000)]
    try:
        sender = RetryingSender(
            url=ready_url(cluster, operator, namespace, "burst"),
            deliveries=deliveries,
            headers={"Authorization": f"Bearer {token}"},
            concurrency=8,
        )
        sender.start()
        eventually(lambda: sender.accepted >= 300, timeout=60, what="300 deliveries accepted before the kill")
        assert operator.stop(signal.SIGKILL) == -signal.SIGKILL
        accepted_at_kill = sender.accepted
        operator.start()
        sender.join(timeout=150)
    finally:
        stopped = operator.stop()
    assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"

    assert accepted_at_kill < len(deliveries), "the burst was over before the kill: nothing was proven"
    assert sender.undelivered() == [], "deliveries that never got a 2xx"
    failures = sum((d.failures for d in deliveries), Counter[str]())
    assert failures["transport"] > 0, "no delivery saw the crash"
    assert set(failures) <= {"transport", "503"}, f"answers other than 2xx and 503 while restarting: {failures}"
    assert {d.status for d in deliveries} <= {200, 202}
    answers = [d.answer for d in deliveries if d.answer is not None]
    event_ids = [a["eventId"] for a in answers]
    assert len(set(event_ids)) == len(deliveries), "two deliveries became one event"
    assert all(len(a["jobs"]) == 1 for a in answers)
    answered = {a["jobs"][0]: a["eventId"] for a in answers}

    jobs = jobs_of(cluster, namespace, "burst")
    assert len(jobs) == len(deliveries)
    made = {j["metadata"]["name"]: j["metadata"]["annotations"]["jobwire.io/event-id"] for j in jobs}
    assert made == answered, "the Jobs are not exactly the ones the 2xx answers named"


def test_an_api_server_outage_is_ridden_out_without_a_restart(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """kube-apiserver is SIGKILLed for 20 s, then started again (kwokctl has no command to stop one component; see
    tests/support/faults.py), while two Schedules tick every 2 s (catchUp All and Latest), a Sensor polls every
    second and finds new items, and a sender retries webhook deliveries. During the outage every webhook request
    answers 503 with Retry-After; afterwards the same operator process carries on: the missed ticks follow each
    Schedule's catch-up policy, every item and delivery has exactly one Job, and status is right again.

    The controller-manager and the scheduler run without leader election (`LocalCluster`): with it, 20 s is past
    their leases' renew deadline and they exit. When the API server is back they are started afresh
    (`ControlPlane.start`), and the test ends only once a Job runs again (`ControlPlane.runs_jobs`): the tests after
    this one must not wait out the informers' backoff of the control plane's own controllers."""
    control = ControlPlane(cluster.kubeconfig)
    assert control.pid("kube-apiserver") is not None
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    operator.start()
    assert operator.process is not None
    pid = operator.process.pid
    token = "outage-token-77d2"
    auth = {"type": "token", "token": {"secretRef": {"name": "hook", "key": "token"}}}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ticking: dict[str, Any] = {"interval": "2s", "jobTemplate": inert_template(), "successfulJobsHistoryLimit": 1000}
    schedules = {
        "all": schedule("all", namespace, catchUp="All", maxRuns=100, **ticking),
        "latest": schedule("latest", namespace, catchUp="Latest", **ticking),
    }
    killed = False
    restarted = False
    with json_server() as feed:
        feed.serve({"items": [{"id": "a"}, {"id": "b"}]})
        manifests = (
            secret("hook", namespace, token=token),
            webhook("hook", namespace, auth, successfulJobsHistoryLimit=100),
            *schedules.values(),
            http_sensor("feed", namespace, feed.url),
        )
        try:
            assert cluster.apply(*manifests).returncode == 0
            url = ready_url(cluster, operator, namespace, "hook")
            before = httpx.post(url, content=b"{}", headers={**headers, "Idempotency-Key": "before"})
            assert before.status_code == 202, before.text
            for name in ("all", "latest"):
                eventually(lambda n=name: len(jobs_of(cluster, namespace, n)) >= 2, what=f"{name} to tick")  # type: ignore[misc]
            eventually(lambda: len(jobs_of(cluster, namespace, "feed")) == 2, what="the Jobs of items a and b")

            killed = True
            control.kill("kube-apiserver")
            feed.serve({"items": [{"id": k} for k in "abcd"]})
            sender = RetryingSender(
                url=url,
                deliveries=[Delivery(key=f"during-{i}", body=b"{}") for i in range(10)],
                headers={"Authorization": f"Bearer {token}"},
                concurrency=2,
            )
            sender.start()
            refused = refused_for(OUTAGE_SECONDS, url, headers)
            assert operator.process.poll() is None, "the operator died with the API server"
            up = control.start()
            restarted = True

            sender.join(timeout=120)
            feed.serve({"items": [{"id": k} for k in "abcde"]})
            eventually(
                lambda: len(jobs_of(cluster, namespace, "feed")) == 5, timeout=60, what="the Jobs of items a to e"
            )
            for name in ("all", "latest"):

                def ticking_again(n: str = name) -> bool:
                    last = status_of(cluster, SCHEDULES, namespace, n).get("lastScheduleTime")
                    return last is not None and parse(last) > up + 2 * TICK

                eventually(ticking_again, timeout=60, what=f"{name} to tick on time again")
                schedules[name]["spec"]["suspend"] = True  # no more ticks: what follows counts a closed set
                assert cluster.apply(schedules[name]).returncode == 0
                eventually(
                    lambda n=name: (
                        condition(status_of(cluster, SCHEDULES, namespace, n), "Ready").get("reason")  # type: ignore[misc]
                        == "Suspended"
                    ),
                    what=f"{name} to be suspended",
                )
        finally:
            if killed:  # whatever failed, the rest of the suite gets a control plane that runs Jobs
                if not restarted:
                    control.start()
                control.runs_jobs()
            stopped = operator.stop()
        assert operator.process.pid == pid, "the operator was restarted"
        assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"

    # Webhooks: every request during the outage was refused with 503, and the retried deliveries went through.
    assert refused > 0
    assert sender.undelivered() == []
    failures = sum((d.failures for d in sender.deliveries), Counter[str]())
    assert set(failures) == {"503"}, [r for d in sender.deliveries for r in d.refusals if not r.startswith("503")]
    hook_jobs = event_ids(jobs_of(cluster, namespace, "hook"))
    assert sorted(hook_jobs) == sorted(
        ["delivery-before", *(d.answer["eventId"] for d in sender.deliveries if d.answer)]
    ), "a refused request made a Job, or an accepted one made none or two"

    # Every producer is Ready again: a refusal during the restart (RBAC not yet read) was not taken for final.
    for plural, name in ((WEBHOOKS, "hook"), (SENSORS, "feed"), (SCHEDULES, "all"), (SCHEDULES, "latest")):
        ready = condition(status_of(cluster, plural, namespace, name), "Ready")
        assert ready.get("status") == "True", f"{plural}/{name}: {ready}"

    # Sensor: one Job per item, including those found while the API server was down.
    feed_jobs = event_ids(jobs_of(cluster, namespace, "feed"))
    assert sorted(feed_jobs) == sorted(item_event_id(k) for k in "abcde")
    sensed = status_of(cluster, SENSORS, namespace, "feed")
    assert condition(sensed, "Healthy").get("status") == "True"
    assert sensed["consecutiveFailures"] == 0
    assert not sensed.get("outbox")
    assert {key_digest(k) for k in "abcde"} <= set(sensed["seenKeys"]), "items seen during the outage not durable"

    # Schedules: no tick twice; All ran every missed tick, Latest only the newest and counted the rest as skipped.
    for name in ("all", "latest"):
        stamps = [j["metadata"]["annotations"]["jobwire.io/scheduled-time"] for j in jobs_of(cluster, namespace, name)]
        times = sorted(parse(stamp) for stamp in stamps)
        assert len(times) == len(set(times)), f"{name}: a tick made two Jobs"
        gaps = [(a, b) for a, b in itertools.pairwise(times) if b - a != TICK]
        missed = skipped_ticks(cluster, namespace, name)
        totals = status_of(cluster, SCHEDULES, namespace, name).get("totals") or {}
        assert int(totals.get("skipped", 0)) == sum(missed.values()), "status and Events disagree on skipped ticks"
        if name == "all":
            assert gaps == [], f"All lost ticks: {gaps}"
            assert not {"MissedCatchUpLatest", "MissedTooMany"} & set(missed)
        else:
            # The outage leaves one long gap; a tick more than one late outside it (a slow machine) leaves a
            # short one more, counted alike. Every tick not run is counted as skipped, none twice.
            lost = [(b - a) // TICK - 1 for a, b in gaps]
            assert max(lost, default=0) >= 5, f"Latest: no gap for the outage in {gaps}"
            assert missed.get("MissedCatchUpLatest") == sum(lost), f"Latest: {missed} for the gaps {gaps}"


def settles(check: Callable[[], T], expected: T, *, what: str, timeout: float = 60) -> None:
    """Wait until `check()` gives `expected`; the failure shows what it gave last."""
    last: list[T] = []

    def probe() -> bool:
        last[:] = [check()]
        return last[0] == expected

    try:
        eventually(probe, timeout=timeout, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: got {last!r}, expected {expected!r}") from None


def new_job(cluster: Cluster, namespace: str, producer: str, known: set[str]) -> str | None:
    """The name of a Job of `producer` not in `known` (added to it), once there is one."""
    fresh = [j["metadata"]["name"] for j in jobs_of(cluster, namespace, producer) if j["metadata"]["name"] not in known]
    if not fresh:
        return None
    [name] = fresh
    known.add(name)
    return str(name)


def test_items_a_batch_holds_when_the_api_server_fails_are_kept_and_run_once(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """docs/reliability.md (first listed as not covered): a Sensor batching items (maxItems 3, maxWaitSeconds an
    hour) holds item a, stored. kube-apiserver is SIGKILLed, the feed adds b, and the operator polls while it is
    down; back, the feed adds c: one batch [a, b, c], one Job, and all three keys in `status.seenKeys` — so that the
    restart after, with the feed listing the three still, holds none of them for a batch of its own. It did: b's key
    went to status only with the poll's quiet, background write, which failed, and the batch's write-ahead added the
    keys of its own poll (c) alone. An item a poll adds to a waiting batch is now written ahead as well."""
    control = ControlPlane(cluster.kubeconfig)
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    operator.start()
    killed = restarted = False

    def held() -> list[Any]:
        return list(status_of(cluster, SENSORS, namespace, "batched").get("pendingItems") or [])

    with json_server() as feed:
        feed.serve({"items": [{"id": "a"}]})
        try:
            batched = http_sensor("batched", namespace, feed.url, batch={"maxItems": 3, "maxWaitSeconds": 3600})
            assert cluster.apply(batched).returncode == 0
            eventually(lambda: len(held()) == 1, what="item a held in the batch")
            mark = len(operator.log())
            killed = True
            control.kill("kube-apiserver")
            feed.serve({"items": [{"id": k} for k in "ab"]})
            # The poll that found b could not write (a quiet write waits up to 22.5 s before it tries).
            eventually(lambda: "sensor status write failed" in operator.log()[mark:], timeout=60, what="a failed write")
            control.start()
            restarted = True
            feed.serve({"items": [{"id": k} for k in "abc"]})
            eventually(lambda: len(jobs_of(cluster, namespace, "batched")) == 1, timeout=60, what="the batch's Job")
            sensed = status_of(cluster, SENSORS, namespace, "batched")
            assert {key_digest(k) for k in "abc"} <= set(sensed["seenKeys"]), "a key held in the batch was lost"

            assert operator.stop(signal.SIGKILL) == -signal.SIGKILL
            restarted_at = datetime.now(UTC)
            operator.start()

            def polled_since_restart() -> bool:
                last = (status_of(cluster, SENSORS, namespace, "batched").get("lastPoll") or {}).get("time")
                return last is not None and parse(last) > restarted_at

            eventually(polled_since_restart, timeout=60, what="a poll after the restart")
            assert held() == [], "an item of the batch that ran is held again"
        finally:
            if killed:
                if not restarted:
                    control.start()
                control.runs_jobs()
            stopped = operator.stop()
    assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"
    [job] = jobs_of(cluster, namespace, "batched")
    event = json.loads(
        next(
            e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "JOBWIRE_EVENT"
        )
    )
    assert sorted(item["id"] for item in event["data"]) == ["a", "b", "c"]


def test_a_finish_replayed_at_start_reaches_an_automation_slow_to_load(
    cluster: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Job finishes while the operator is down; at start the Job watch replays it, and the Automation that counts
    finishes is loaded as late as can be (held back on purpose, a fault injected: an API server slow to answer):
    only once the replayed event has been fed, or is held until the Automations are loaded. The finish still
    reaches it, once. Without the hold the event is published before the load, and the Automation never counts."""
    hook = webhook("w", namespace, {"type": "none"}, jobTemplate=job_template("hang"))
    assert cluster.apply(hook, counting("succeeded", namespace, "jobwire.job.succeeded")).returncode == 0
    with in_process_operator(cluster.kubeconfig, namespace) as op:
        eventually(
            lambda: condition(status_of(cluster, AUTOMATIONS, namespace, "succeeded"), "Ready").get("status") == "True",
            what="the Automation to be Ready",
        )
        path = eventually(lambda: status_of(cluster, WEBHOOKS, namespace, "w").get("url"), what="the Webhook's URL")
        response = httpx.post(f"http://127.0.0.1:{op.webhook_port}{path}", json={}, headers={"Idempotency-Key": "d1"})
        assert response.status_code == 202, response.text
        [job] = response.json()["jobs"]
        eventually(lambda: pods_of(cluster, namespace, job), what=f"the Pod of {job}")
        eventually(lambda: status_of(cluster, WEBHOOKS, namespace, "w").get("activeCount") == 1, what="1 active")
    finish_pods(cluster, namespace, job)
    eventually(lambda: finished_as(cluster, namespace, job) == "Complete", what=f"{job} to complete")

    replayed = threading.Event()
    feed, load = Leadership.on_event, AutomationController.sync

    async def noting_jobs(leadership: Leadership, plural: str, event: Mapping[str, Any]) -> None:
        if plural == JOBS and leadership.holding_jobs:
            replayed.set()  # the event waits for the load: let it go on
        await feed(leadership, plural, event)
        if plural == JOBS:
            replayed.set()  # the event has done all it does: published, if it was to be

    async def load_after_the_replay(controller: AutomationController, body: JSON) -> None:
        assert await asyncio.to_thread(replayed.wait, 30), "the Job watch replayed no Job event"
        await load(controller, body)

    monkeypatch.setattr(Leadership, "on_event", noting_jobs)
    monkeypatch.setattr(AutomationController, "sync", load_after_the_replay)
    with in_process_operator(cluster.kubeconfig, namespace):
        eventually(
            lambda: status_of(cluster, AUTOMATIONS, namespace, "succeeded").get("triggerCount") == 1,
            timeout=20,
            what="the Automation to count the Job that finished while the operator was down",
        )
        assert (status_of(cluster, WEBHOOKS, namespace, "w").get("totals") or {}).get("succeeded") == 1
    counted = status_of(cluster, AUTOMATIONS, namespace, "succeeded")
    assert counted["triggerCount"] == 1
    uid = cluster.get("job", job, namespace)["metadata"]["uid"]
    assert [e for f in counted["recentFirings"] for e in f["eventIds"]] == [f"{uid}-succeeded"]


def pods_of(cluster: Cluster, namespace: str, job: str) -> list[str]:
    return cluster.kubectl("get", "pods", "-n", namespace, "-l", f"job-name={job}", "-o", "name").stdout.split()


def counting(name: str, namespace: str, event_type: str) -> dict[str, Any]:
    """An Automation that fires once per `event_type` event (threshold 1) and emits an event of its own."""
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Automation",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"trigger": {"match": {"type": [event_type]}}, "actions": [{"emit": {"type": "test.counted"}}]},
    }


def finished_as(cluster: Cluster, namespace: str, job: str) -> str | None:
    """ "Complete" or "Failed" once the Job has finished, else None."""
    conditions = (cluster.get("job", job, namespace).get("status") or {}).get("conditions") or []
    return next((c["type"] for c in conditions if c["type"] in ("Complete", "Failed") and c["status"] == "True"), None)


def test_jobs_that_finish_while_the_operator_is_down_are_counted_once_when_it_is_back(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """A Webhook and a Schedule have Jobs running (Pods that hang on the fake node) when the operator is SIGKILLed;
    while it is down the Pods are told to finish (three succeed, one fails). When it is back, every producer's status
    catches up — nothing active, totals, lastRun, the history limits applied — and the Automations counting
    jobwire.job.succeeded and jobwire.job.failed get each Job's event exactly once, including those of the Jobs
    that had finished before the crash (which the restarted watch replays)."""
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    hanging = job_template("hang")
    hook = webhook(
        "w", namespace, {"type": "none"}, jobTemplate=hanging, successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1
    )
    yearly = schedule("s", namespace, cron="0 0 1 1 *", jobTemplate=hanging, successfulJobsHistoryLimit=1)
    succeeded, failed = (
        counting("succeeded", namespace, "jobwire.job.succeeded"),
        counting("failed", namespace, "jobwire.job.failed"),
    )
    assert cluster.apply(hook, yearly, succeeded, failed).returncode == 0
    operator.start()
    try:
        url = ready_url(cluster, operator, namespace, "w")
        for name in ("succeeded", "failed", "s"):
            plural = AUTOMATIONS if name != "s" else SCHEDULES
            eventually(
                lambda p=plural, n=name: (
                    condition(status_of(cluster, p, namespace, n), "Ready").get("status")  # type: ignore[misc]
                    == "True"
                ),
                what=f"{name} to be Ready",
            )

        def deliver(key: str) -> str:
            response = httpx.post(url, json={"key": key}, headers={"Idempotency-Key": key})
            assert response.status_code == 202, response.text
            [job] = response.json()["jobs"]
            return str(job)

        ran: set[str] = set()

        def run_now(value: str) -> str:
            cluster.kubectl("annotate", SCHEDULES, "s", "-n", namespace, "--overwrite", f"{RUN_REQUESTED}={value}")
            return eventually(lambda: new_job(cluster, namespace, "s", ran), what=f"the Job of run {value}")

        # Before the crash: one Job of each producer runs and succeeds, and is counted.
        a1 = deliver("a1")
        v1 = run_now("v1")
        for job in (a1, v1):
            eventually(lambda j=job: pods_of(cluster, namespace, j), what=f"the Pod of {job}")  # type: ignore[misc]
            finish_pods(cluster, namespace, job)
        eventually(lambda: status_of(cluster, AUTOMATIONS, namespace, "succeeded").get("triggerCount") == 2, what="2")

        # Running at the crash: three Jobs of the Webhook, one of the Schedule.
        running = [deliver(key) for key in ("b1", "b2", "b3")]
        v2 = run_now("v2")
        running.append(v2)
        eventually(lambda: status_of(cluster, WEBHOOKS, namespace, "w").get("activeCount") == 3, what="3 active")
        eventually(lambda: status_of(cluster, SCHEDULES, namespace, "s").get("activeCount") == 1, what="1 active")
        for job in running:
            eventually(lambda j=job: pods_of(cluster, namespace, j), what=f"the Pod of {job}")  # type: ignore[misc]
        uids = {j["metadata"]["name"]: j["metadata"]["uid"] for p in ("w", "s") for j in jobs_of(cluster, namespace, p)}
        assert set(uids) == {a1, v1, *running}
        assert operator.stop(signal.SIGKILL) == -signal.SIGKILL

        # While it is down, they finish.
        b1, b2, b3 = running[:3]
        for job, outcome in ((b1, None), (b2, None), (b3, "fail"), (v2, None)):
            finish_pods(cluster, namespace, job, outcome)
        for job, expected in ((b1, "Complete"), (b2, "Complete"), (b3, "Failed"), (v2, "Complete")):
            eventually(lambda j=job, e=expected: finished_as(cluster, namespace, j) == e, what=f"{job} {expected}")  # type: ignore[misc]
        operator.start()

        def progress() -> dict[str, Any]:
            hook_status = status_of(cluster, WEBHOOKS, namespace, "w")
            schedule_status = status_of(cluster, SCHEDULES, namespace, "s")
            return {
                "webhook totals": hook_status.get("totals"),
                "schedule totals": schedule_status.get("totals"),
                "active": [*(hook_status.get("active") or []), *(schedule_status.get("active") or [])],
                "jobs kept": (len(jobs_of(cluster, namespace, "w")), len(jobs_of(cluster, namespace, "s"))),
            }

        settles(
            progress,
            {
                "webhook totals": {"created": 4, "succeeded": 3, "failed": 1, "skipped": 0},
                "schedule totals": {"created": 2, "succeeded": 2, "failed": 0, "skipped": 0},
                "active": [],
                "jobs kept": (3, 1),
            },
            what="status to catch up with the Jobs that finished",
        )
        eventually(
            lambda: (
                status_of(cluster, AUTOMATIONS, namespace, "succeeded").get("triggerCount", 0) >= 5
                and status_of(cluster, AUTOMATIONS, namespace, "failed").get("triggerCount", 0) >= 1
            ),
            timeout=30,
            what="the Automations to count the Jobs that finished while the operator was down",
        )
    finally:
        stopped = operator.stop()
    assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"

    hook_status = status_of(cluster, WEBHOOKS, namespace, "w")
    assert hook_status["activeCount"] == 0
    assert {r["job"]: r["result"] for r in hook_status["recentRuns"]} == {
        a1: "Succeeded",
        b1: "Succeeded",
        b2: "Succeeded",
        b3: "Failed",
    }
    assert hook_status["lastRun"]["job"] in (b1, b2, b3)
    assert {j["metadata"]["name"] for j in jobs_of(cluster, namespace, "w")} == {b1, b2, b3}, "history limits"
    schedule_status = status_of(cluster, SCHEDULES, namespace, "s")
    assert schedule_status["activeCount"] == 0
    assert schedule_status["lastRun"]["job"] == v2
    assert schedule_status["lastSuccessfulTime"]
    assert [j["metadata"]["name"] for j in jobs_of(cluster, namespace, "s")] == [v2]

    # Each Job's event reached the Automations once: the firings name exactly the expected events.
    counted = status_of(cluster, AUTOMATIONS, namespace, "succeeded")
    assert counted["triggerCount"] == 5
    fired_on = sorted(e for f in counted["recentFirings"] for e in f["eventIds"])
    assert fired_on == sorted(f"{uids[j]}-succeeded" for j in (a1, v1, b1, b2, v2))
    failures = status_of(cluster, AUTOMATIONS, namespace, "failed")
    assert failures["triggerCount"] == 1
    assert [e for f in failures["recentFirings"] for e in f["eventIds"]] == [f"{uids[b3]}-failed"]
    # And the tracker told each finish once in an Event.
    # (Events close together are folded into one that lists them: count every "Job NAME succeeded|failed".)
    told = Counter(
        name
        for e in json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
        if e["reason"] in ("JobSucceeded", "JobFailed")
        for name in re.findall(r"Job (\S+) (?:succeeded|failed)", e["message"])
    )
    assert told == Counter({a1: 1, v1: 1, b1: 1, b2: 1, b3: 1, v2: 1})


def test_no_secret_reaches_logs_status_events_or_metrics(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """A full run over every path that reads a Secret — an HMAC and a token Webhook (right and wrong credentials),
    a Sensor sending a header from a Secret (to a server that answers and one that fails), Automations notifying
    URLs held in Secrets (one answers, one fails with 500, one refuses the connection) — then a scan of the
    operator's DEBUG log, every Jobwire object and Job in the namespace, its Kubernetes Events and /metrics for
    each secret value, in plain text and base64. None may appear."""
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / "operator.log", namespaces=(namespace,)
    )
    unique = uuid.uuid4().hex
    hmac_key = f"hmac-key-{unique}"
    token = f"hook-token-{unique}"
    sensor_key = f"sensor-key-{unique}"
    items = {"items": [{"id": "x1"}, {"id": "x2"}]}
    with items_server(items) as api, json_server() as broken, json_server() as sink, json_server() as failing:
        broken.serve({"error": "down"}, status=500)
        failing.serve({}, status=500)
        urls = {
            "ok": f"{sink.url}/notify/path-{unique}?key=query-{unique}",
            "failing": f"{failing.url}/notify/failing-{unique}",
            "refused": f"http://127.0.0.1:{free_port()}/notify/refused-{unique}",
        }
        secrets = [hmac_key, token, sensor_key, *urls.values(), f"path-{unique}", f"query-{unique}"]
        github = {"type": "hmac", "hmac": {"preset": "github", "secretRef": {"name": "gh", "key": "secret"}}}
        gitlab = {"type": "token", "token": {"header": "X-Gitlab-Token", "secretRef": {"name": "tok", "key": "t"}}}
        header = [{"name": "Authorization", "secretRef": {"name": "api", "key": "header"}}]
        manifests: list[dict[str, Any]] = [
            secret("gh", namespace, secret=hmac_key),
            secret("tok", namespace, t=token),
            secret("api", namespace, header=f"Bearer {sensor_key}"),
            *(secret(f"notify-{name}", namespace, url=url) for name, url in urls.items()),
            webhook("gh", namespace, github, jobTemplate=inert_template()),
            webhook("tok", namespace, gitlab, jobTemplate=inert_template()),
            http_sensor("api", namespace, api.url, jobTemplate=inert_template()),
            http_sensor("broken", namespace, broken.url, jobTemplate=inert_template()),
        ]
        for sensor in manifests[-2:]:
            sensor["spec"]["source"]["http"]["headers"] = header
        for name in urls:
            manifests.append(
                {
                    "apiVersion": "jobwire.io/v1alpha1",
                    "kind": "Automation",
                    "metadata": {"name": f"notify-{name}", "namespace": namespace},
                    "spec": {
                        "trigger": {"match": {"type": ["jobwire.webhook.received"]}},
                        "actions": [
                            {"notify": {"urlSecretRef": {"name": f"notify-{name}", "key": "url"}, "retries": 1}}
                        ],
                    },
                }
            )
        assert cluster.apply(*manifests).returncode == 0
        operator.start()
        try:
            gh_url = ready_url(cluster, operator, namespace, "gh")
            tok_url = ready_url(cluster, operator, namespace, "tok")
            body = json.dumps({"ref": "refs/heads/main"}).encode()
            signature = "sha256=" + hmac.new(hmac_key.encode(), body, hashlib.sha256).hexdigest()
            calls = [
                (gh_url, {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d1"}, 202),
                (gh_url, {"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Delivery": "d2"}, 401),
                (tok_url, {"X-Gitlab-Token": token, "Idempotency-Key": "t1"}, 202),
                (tok_url, {"X-Gitlab-Token": "not-the-token", "Idempotency-Key": "t2"}, 401),
                (tok_url, {"Authorization": f"Bearer {token}", "Idempotency-Key": "t3"}, 401),
            ]
            for url, headers, expected in calls:
                response = httpx.post(url, content=body, headers={"Content-Type": "application/json", **headers})
                assert response.status_code == expected, response.text
                assert not [s for s in secrets if s in response.text]
            eventually(lambda: len(sink.received) == 2, timeout=30, what="two notifications to the sink")
            for name in urls:
                eventually(
                    lambda n=name: (
                        len(
                            [
                                f
                                for f in status_of(cluster, AUTOMATIONS, namespace, f"notify-{n}").get("recentFirings")
                                or []
                                if f.get("outcomes")
                            ]  # type: ignore[misc]
                        )
                        == 2
                    ),
                    timeout=60,
                    what=f"both firings of notify-{name} finished",
                )
            eventually(lambda: len(jobs_of(cluster, namespace, "api")) == 2, what="the Jobs of the Sensor's items")
            eventually(
                lambda: condition(status_of(cluster, SENSORS, namespace, "broken"), "Healthy").get("status") == "False",
                what="the failing Sensor to say so",
            )
            eventually(
                lambda: (status_of(cluster, WEBHOOKS, namespace, "tok").get("counters") or {}).get("rejected"),
                what="the rejected requests counted in status",
            )
            metrics = httpx.get(f"{operator.probe_url}/metrics").text
        finally:
            stopped = operator.stop()
    assert stopped == 0, f"the operator did not stop cleanly on SIGTERM (exit {stopped})"
    # The Sensor did send its header: the server saw the secret, as it should.
    assert api.headers
    assert all(h.get("Authorization") == f"Bearer {sensor_key}" for h in api.headers)

    everything = cluster.kubectl(
        "get", "schedules,sensors,webhooks,automations,jobs,events", "-n", namespace, "-o", "json"
    ).stdout
    corpus = {"operator log": operator.log(), "objects, Jobs and Events": everything, "/metrics": metrics}
    # The scan looks at what it should: the failures are told, only without the secrets.
    for told in ("ActionFailed", "Healthy", "BadToken", "BadSignature"):
        assert told in everything
    assert "jobwire_webhook_responses_total" in metrics
    forms = {value: [value, base64.b64encode(value.encode()).decode()] for value in secrets}
    leaks = [
        f"{where} holds {value!r} (as {form!r})"
        for where, text in corpus.items()
        for value, variants in forms.items()
        for form in variants
        if form in text
    ]
    assert leaks == []

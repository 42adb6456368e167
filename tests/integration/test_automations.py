"""Automations on the real control plane: Jobs finishing on the fake node, a local HTTP sink for notifications,
Webhooks for events the tests send, and the operator in-process on a clock the tests move."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobwire.cli.main import main
from jobwire.events.model import ProducerRef, format_rfc3339, parse_rfc3339
from jobwire.timing.clock import SteppedClock
from tests.support.builders import job_template, schedule, secret
from tests.support.inprocess import InProcessOperator, in_process_operator
from tests.support.jsonserver import JsonServer, json_server
from tests.support.kube import Cluster, ready, status_of
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

AUTOMATIONS = "automations.jobwire.io"
WEBHOOKS = "webhooks.jobwire.io"
SCHEDULES = "schedules.jobwire.io"


@pytest.fixture
def sink() -> Iterator[JsonServer]:
    with json_server() as server:
        yield server


def automation(name: str, namespace: str, trigger: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Automation",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"trigger": trigger, "actions": actions},
    }


def applied(cluster: Cluster, *manifests: dict[str, Any]) -> None:
    result = cluster.apply(*manifests)
    assert result.returncode == 0, result.stderr


def notify(body: str | None = None) -> dict[str, Any]:
    return {"notify": {"urlSecretRef": {"name": "sink", "key": "url"}, **({"body": body} if body else {})}}


def events_hook(name: str, namespace: str, event_type: str) -> dict[str, Any]:
    """A Webhook without Jobs: its requests are events for Automations."""
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Webhook",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"auth": {"type": "none"}, "eventType": event_type},
    }


def jobs_of(cluster: Cluster, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
    out = cluster.kubectl(
        "get", "jobs", "-n", namespace, "-l", f"jobwire.io/kind={kind},jobwire.io/name={name}", "-o", "json"
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def run_now(cluster: Cluster, namespace: str, name: str, token: str) -> None:
    cluster.kubectl("annotate", SCHEDULES, name, "-n", namespace, "--overwrite", f"jobwire.io/run-requested-at={token}")


def send(op: InProcessOperator, cluster: Cluster, namespace: str, hook: str, data: Any, delivery: str) -> None:
    path = ready(cluster, "webhooks.jobwire.io", namespace, hook)["url"]
    response = httpx.post(
        f"http://127.0.0.1:{op.webhook_port}{path}", json=data, headers={"Idempotency-Key": delivery}, timeout=30
    )
    assert response.status_code in (200, 202), response.text


def firings(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = status_of(cluster, AUTOMATIONS, namespace, name).get("recentFirings") or []
    return found


def finished_firings(cluster: Cluster, namespace: str, name: str, count: int) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        found = firings(cluster, namespace, name)
        return found if len(found) >= count and all(f.get("outcomes") for f in found) else None

    return eventually(check, what=f"{count} finished firing(s) of {name}")


def job_event(job: dict[str, Any]) -> dict[str, Any]:
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    loaded: dict[str, Any] = json.loads(env["JOBWIRE_EVENT"])
    return loaded


def test_job_b_runs_after_job_a_succeeds(cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str) -> None:
    a_source = ProducerRef("Schedule", namespace, "a", "").source
    applied(
        cluster,
        schedule("a", namespace, cron=hourly),
        automation(
            "after-a",
            namespace,
            {"match": {"type": ["jobwire.job.succeeded"], "source": [a_source]}},
            [{"runJob": {"jobTemplate": job_template()}}],
        ),
    )
    ready(cluster, SCHEDULES, namespace, "a")
    ready(cluster, AUTOMATIONS, namespace, "after-a")
    run_now(cluster, namespace, "a", "go")
    b_jobs = eventually(lambda: jobs_of(cluster, namespace, "Automation", "after-a") or None, what="Job B")
    a_job = jobs_of(cluster, namespace, "Schedule", "a")[0]
    event = job_event(b_jobs[0])
    assert event["type"] == "jobwire.automation.triggered"
    assert [e["subject"] for e in event["data"]["events"]] == [a_job["metadata"]["name"]]
    assert event["data"]["events"][0]["type"] == "jobwire.job.succeeded"
    (firing,) = finished_firings(cluster, namespace, "after-a", 1)
    assert firing["outcomes"][0]["result"] == "Succeeded"
    current = status_of(cluster, AUTOMATIONS, namespace, "after-a")
    assert current["triggerCount"] == 1
    # B's own run is recorded like any producer's, and B finishing does not trigger after-a again (not from a).
    eventually(
        lambda: (
            (status_of(cluster, AUTOMATIONS, namespace, "after-a").get("lastRun") or {}).get("result") == "Succeeded"
        ),
        what="B's run recorded",
    )
    assert len(jobs_of(cluster, namespace, "Automation", "after-a")) == 1


def test_a_failing_job_of_app_x_notifies(
    cluster: Cluster, namespace: str, op: InProcessOperator, sink: JsonServer, hourly: str
) -> None:
    def labelled(name: str, app: str) -> dict[str, Any]:
        body = schedule(name, namespace, cron=hourly, outcome="fail")
        body["spec"]["jobTemplate"]["metadata"] = {"labels": {"app": app}}
        return body

    applied(
        cluster,
        secret("sink", namespace, url=f"{sink.url}/alerts"),
        labelled("x-nightly", "x"),
        labelled("y-nightly", "y"),
        automation(
            "x-failures",
            namespace,
            {"match": {"type": ["jobwire.job.failed"], "labels": {"app": "x"}}},
            [notify("{'text': 'failed: ' + events[0].data.job, 'app': events[0].data.labels.app}")],
        ),
    )
    for name in ("x-nightly", "y-nightly", "x-failures"):
        ready(cluster, SCHEDULES if name.endswith("nightly") else AUTOMATIONS, namespace, name)
    run_now(cluster, namespace, "y-nightly", "1")
    eventually(
        lambda: (status_of(cluster, SCHEDULES, namespace, "y-nightly").get("lastRun") or {}).get("result") == "Failed",
        what="y's Job failed",
    )
    run_now(cluster, namespace, "x-nightly", "1")
    (firing,) = finished_firings(cluster, namespace, "x-failures", 1)
    x_job = jobs_of(cluster, namespace, "Schedule", "x-nightly")[0]["metadata"]["name"]
    assert sink.received == [{"text": f"failed: {x_job}", "app": "x"}]
    assert firing["outcomes"][0]["result"] == "Succeeded"
    assert "200" in firing["outcomes"][0]["message"]


def test_three_failures_within_ten_minutes_suspend_the_schedule(
    cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str
) -> None:
    source = ProducerRef("Schedule", namespace, "flaky", "").source
    # The failures come in real time (this test does not move the clock): a window of ten minutes, so that a slow
    # machine does not push the first out of it before the third.
    applied(
        cluster,
        schedule("flaky", namespace, cron=hourly, outcome="fail"),
        automation(
            "breaker",
            namespace,
            {"match": {"type": ["jobwire.job.failed"], "source": [source]}, "threshold": 3, "within": "10m"},
            [{"suspend": {"kind": "Schedule", "name": "flaky"}}],
        ),
    )
    ready(cluster, SCHEDULES, namespace, "flaky")
    ready(cluster, AUTOMATIONS, namespace, "breaker")

    def failed() -> int:
        return int((status_of(cluster, SCHEDULES, namespace, "flaky").get("totals") or {}).get("failed") or 0)

    for count in (1, 2):
        run_now(cluster, namespace, "flaky", str(count))
        eventually(partial(lambda n: failed() == n, count), what=f"failure {count}")
    # Two failures: counted (the checkpoint shows them), nothing fired.
    eventually(
        lambda: (
            len(
                ((status_of(cluster, AUTOMATIONS, namespace, "breaker").get("checkpoint") or {}).get("keys") or {})
                .get("", {})
                .get("seen", [])
            )
            == 2
        ),
        what="two failures in the window",
    )
    assert cluster.get(SCHEDULES, "flaky", namespace)["spec"].get("suspend") is not True
    run_now(cluster, namespace, "flaky", "3")
    eventually(lambda: cluster.get(SCHEDULES, "flaky", namespace)["spec"].get("suspend") is True, what="suspended")
    (firing,) = finished_firings(cluster, namespace, "breaker", 1)
    assert firing["outcomes"][0]["message"] == "suspended Schedule flaky"
    assert len(firing["eventIds"]) == 3


def test_absence_fires_once_and_again_only_after_re_arming(
    cluster: Cluster, namespace: str, op: InProcessOperator, sink: JsonServer
) -> None:
    applied(
        cluster,
        secret("sink", namespace, url=sink.url),
        events_hook("loader", namespace, "data.loaded"),
        automation(
            "no-data",
            namespace,
            {"match": {"type": ["data.loaded"]}, "posture": "Proactive", "within": "30s"},
            [notify("{'reason': firing.reason, 'deadline': firing.deadline}")],
        ),
    )
    ready(cluster, AUTOMATIONS, namespace, "no-data")
    ready(cluster, "webhooks.jobwire.io", namespace, "loader")
    op.clock.advance(timedelta(seconds=31))
    finished_firings(cluster, namespace, "no-data", 1)
    assert [b["reason"] for b in sink.received] == ["Absence"]
    op.clock.advance(timedelta(minutes=5))  # still nothing arrived: fired already, stays quiet
    send(op, cluster, namespace, "loader", {"rows": 10}, "load-1")  # re-arms
    eventually(
        lambda: (
            ((status_of(cluster, AUTOMATIONS, namespace, "no-data").get("checkpoint") or {}).get("keys") or {})
            .get("", {})
            .get("armedAt")
        ),
        what="re-armed",
    )
    op.clock.advance(timedelta(seconds=31))
    finished_firings(cluster, namespace, "no-data", 2)
    assert [b["reason"] for b in sink.received] == ["Absence", "Absence"]
    assert sink.received[0]["deadline"] != sink.received[1]["deadline"]


def test_for_each_keys_have_their_own_windows(
    cluster: Cluster, namespace: str, op: InProcessOperator, sink: JsonServer
) -> None:
    applied(
        cluster,
        secret("sink", namespace, url=sink.url),
        events_hook("orders", namespace, "order.failed"),
        automation(
            "per-region",
            namespace,
            {"match": {"type": ["order.failed"]}, "threshold": 2, "forEach": ["event.data.region"]},
            [notify("{'key': firing.key, 'n': size(events)}")],
        ),
    )
    ready(cluster, AUTOMATIONS, namespace, "per-region")
    for i, region in enumerate(["eu", "us", "eu"]):
        send(op, cluster, namespace, "orders", {"region": region}, f"o-{i}")
    finished_firings(cluster, namespace, "per-region", 1)
    assert sink.received == [{"key": "eu", "n": 2}]
    send(op, cluster, namespace, "orders", {"region": "us"}, "o-3")
    finished_firings(cluster, namespace, "per-region", 2)
    assert sink.received == [{"key": "eu", "n": 2}, {"key": "us", "n": 2}]


def test_a_restart_mid_window_neither_loses_nor_repeats(cluster: Cluster, namespace: str, sink: JsonServer) -> None:
    clock = SteppedClock()
    applied(
        cluster,
        secret("sink", namespace, url=sink.url),
        events_hook("feed", namespace, "feed.item"),
        automation(
            "every-three",
            namespace,
            {"match": {"type": ["feed.item"]}, "threshold": 3, "within": "10m"},
            [notify("{'ids': firing.eventIds}")],
        ),
    )

    def seen() -> int:
        checkpoint = status_of(cluster, AUTOMATIONS, namespace, "every-three").get("checkpoint") or {}
        return len((checkpoint.get("keys") or {}).get("", {}).get("seen", []))

    with in_process_operator(cluster.kubeconfig, namespace, clock) as first:
        ready(cluster, AUTOMATIONS, namespace, "every-three")
        send(first, cluster, namespace, "feed", {"n": 1}, "item-1")
        send(first, cluster, namespace, "feed", {"n": 2}, "item-2")
        eventually(lambda: seen() == 2, what="two items checkpointed")
    with in_process_operator(cluster.kubeconfig, namespace, clock) as second:
        # The same delivery again (a sender's retry) counts once; the third new item fires.
        send(second, cluster, namespace, "feed", {"n": 2}, "item-2")
        send(second, cluster, namespace, "feed", {"n": 3}, "item-3")
        (firing,) = finished_firings(cluster, namespace, "every-three", 1)
        assert len(sink.received) == 1
        assert len(sink.received[0]["ids"]) == 3
        assert firing["eventIds"] == sink.received[0]["ids"]
    with in_process_operator(cluster.kubeconfig, namespace, clock) as third:
        for n in (4, 5, 6):
            send(third, cluster, namespace, "feed", {"n": n}, f"item-{n}")
        finished_firings(cluster, namespace, "every-three", 2)
    assert len(sink.received) == 2
    assert set(sink.received[0]["ids"]).isdisjoint(sink.received[1]["ids"])
    assert status_of(cluster, AUTOMATIONS, namespace, "every-three")["triggerCount"] == 2


def test_a_bad_spec_is_told_in_ready(cluster: Cluster, namespace: str, op: InProcessOperator) -> None:
    applied(
        cluster,
        automation("broken", namespace, {"match": {"type": ["t"]}, "filter": "event.("}, [{"emit": {"type": "x"}}]),
    )

    def condition() -> dict[str, Any] | None:
        conditions = status_of(cluster, AUTOMATIONS, namespace, "broken").get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready" and c["status"] == "False"), None)

    found = eventually(condition, what="Ready=False")
    assert found["reason"] == "InvalidSpec"
    assert "spec.trigger.filter" in found["message"]


def dry_run(cluster: Cluster, namespace: str, name: str, event: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    flags = ["-n", namespace, "--kubeconfig", str(cluster.kubeconfig), "--event", str(event), "-o", "json"]
    code = main(["automation", "test", name, *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_the_dry_run_says_what_the_real_run_does(
    cluster: Cluster,
    namespace: str,
    op: InProcessOperator,
    sink: JsonServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    applied(
        cluster,
        secret("sink", namespace, url=sink.url),
        events_hook("shop", namespace, "order.failed"),
        automation(
            "orders",
            namespace,
            {"match": {"type": ["order.failed"]}, "forEach": ["event.data.region"]},
            [
                {"runJob": {"jobTemplate": job_template()}},
                notify("{'text': 'order failed in ' + firing.key, 'ids': firing.eventIds}"),
            ],
        ),
    )
    ready(cluster, AUTOMATIONS, namespace, "orders")
    cloud_event = {
        "specversion": "1.0",
        "id": "order-17",
        "source": "/shop/checkout",
        "type": "order.failed",
        "time": "2026-11-22T09:00:00Z",
        "datacontenttype": "application/json",
        "data": {"region": "eu"},
    }
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**cloud_event, "type": "order.paid"}))
    missed = dry_run(cluster, namespace, "orders", other, capsys)
    assert (missed["fires"], missed["counted"], missed["outcome"]) == (False, False, "NoMatch")
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(cloud_event))
    report = dry_run(cluster, namespace, "orders", event_file, capsys)
    assert (report["fires"], report["key"]) == (True, "eu")
    job_action, notify_action = report["actions"]
    assert notify_action["body"] == {"text": "order failed in eu", "ids": ["order-17"]}

    path = ready(cluster, "webhooks.jobwire.io", namespace, "shop")["url"]
    response = httpx.post(
        f"http://127.0.0.1:{op.webhook_port}{path}",
        content=json.dumps(cloud_event),
        headers={"Content-Type": "application/cloudevents+json"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    (firing,) = finished_firings(cluster, namespace, "orders", 1)
    assert firing["id"] == report["firing"]["id"]
    assert [j["metadata"]["name"] for j in jobs_of(cluster, namespace, "Automation", "orders")] == [job_action["job"]]
    assert sink.received == [notify_action["body"]]


def test_a_failing_notification_is_retried_then_reported_as_an_event(
    cluster: Cluster, namespace: str, op: InProcessOperator, sink: JsonServer
) -> None:
    sink.serve({}, status=503)
    source = ProducerRef("Automation", namespace, "alert", "").source
    applied(
        cluster,
        secret("sink", namespace, url=sink.url),
        events_hook("feed", namespace, "feed.item"),
        automation(
            "alert",
            namespace,
            {"match": {"type": ["feed.item"]}},
            [{"notify": {"urlSecretRef": {"name": "sink", "key": "url"}, "retries": 2}}, {"emit": {"type": "x"}}],
        ),
        automation(
            "on-failure",
            namespace,
            {"match": {"type": ["jobwire.automation.action.failed"], "source": [source]}},
            [{"runJob": {"jobTemplate": job_template()}}],
        ),
    )
    ready(cluster, AUTOMATIONS, namespace, "alert")
    ready(cluster, AUTOMATIONS, namespace, "on-failure")
    send(op, cluster, namespace, "feed", {"n": 1}, "item-1")
    (firing,) = finished_firings(cluster, namespace, "alert", 1)
    failed, emitted = firing["outcomes"]
    assert (failed["result"], failed["message"]) == ("Failed", "the notification URL answered 503 after 3 attempt(s)")
    assert emitted["result"] == "Succeeded"  # a failed action does not stop the next
    assert sink.requests == 3
    assert sink.received == []
    # The failure is an event: another Automation reacts to it.
    job = eventually(lambda: jobs_of(cluster, namespace, "Automation", "on-failure") or None, what="the reaction")
    failure = job_event(job[0])["data"]["events"][0]
    assert (failure["type"], failure["data"]["action"]) == ("jobwire.automation.action.failed", "0-notify")

    def warnings() -> str | None:
        found = cluster.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "reason=ActionFailed", "-o", "json"
        ).stdout
        return found if "answered 503" in found else None

    assert sink.url not in eventually(warnings, what="the ActionFailed Event")


def test_a_deadline_that_passed_while_the_operator_was_down_fires_once_when_it_is_back(
    cluster: Cluster, namespace: str, sink: JsonServer
) -> None:
    clock = SteppedClock()
    applied(
        cluster,
        secret("sink", namespace, url=sink.url),
        automation(
            "heartbeat",
            namespace,
            {"match": {"type": ["beat"]}, "posture": "Proactive", "within": "30s"},
            [notify("{'reason': firing.reason, 'deadline': firing.deadline}")],
        ),
    )

    def armed() -> str | None:
        checkpoint = status_of(cluster, AUTOMATIONS, namespace, "heartbeat").get("checkpoint") or {}
        found: str | None = (checkpoint.get("keys") or {}).get("", {}).get("armedAt")
        return found

    with in_process_operator(cluster.kubeconfig, namespace, clock):
        ready(cluster, AUTOMATIONS, namespace, "heartbeat")
        armed_at = eventually(armed, what="the first arming checkpointed")
    clock.advance(timedelta(minutes=5))  # the deadline passes while no operator runs
    with in_process_operator(cluster.kubeconfig, namespace, clock):
        (firing,) = finished_firings(cluster, namespace, "heartbeat", 1)
        assert firing["reason"] == "Absence"
        deadline = parse_rfc3339(armed_at) + timedelta(seconds=30)
        assert [b["deadline"] for b in sink.received] == [format_rfc3339(deadline)]
        # Fired once, and no deadline is left until an event re-arms it: nothing more can fire.
        eventually(lambda: armed() is None, what="disarmed after the firing")
    assert len(sink.received) == 1


def test_a_label_change_alone_reaches_match_labels(cluster: Cluster, namespace: str, op: InProcessOperator) -> None:
    """A Webhook labelled app=y, then relabelled app=x with no spec change (no new generation): the Automation
    matching app=x does not take the event sent before, and takes those sent after."""
    hook = events_hook("hook", namespace, "push")
    hook["metadata"]["labels"] = {"app": "y"}
    applied(
        cluster,
        hook,
        automation(
            "x-pushes", namespace, {"match": {"type": ["push"], "labels": {"app": "x"}}}, [{"emit": {"type": "x"}}]
        ),
        automation("all-pushes", namespace, {"match": {"type": ["push"]}}, [{"emit": {"type": "any"}}]),
    )
    for name in ("x-pushes", "all-pushes"):
        ready(cluster, AUTOMATIONS, namespace, name)
    send(op, cluster, namespace, "hook", {"n": 0}, "before")
    [before] = finished_firings(cluster, namespace, "all-pushes", 1)[0]["eventIds"]
    generation = cluster.get(WEBHOOKS, "hook", namespace)["metadata"]["generation"]

    cluster.kubectl("label", WEBHOOKS, "hook", "-n", namespace, "app=x", "--overwrite")
    assert cluster.get(WEBHOOKS, "hook", namespace)["metadata"]["generation"] == generation
    sent: list[str] = []

    def matched() -> list[dict[str, Any]] | None:
        sent.append(f"after-{len(sent)}")
        send(op, cluster, namespace, "hook", {"n": len(sent)}, sent[-1])
        return firings(cluster, namespace, "x-pushes") or None

    eventually(matched, what="an event sent after the label change to be matched")
    fired_on = [e for f in firings(cluster, namespace, "x-pushes") for e in f["eventIds"]]
    assert fired_on
    assert before not in fired_on

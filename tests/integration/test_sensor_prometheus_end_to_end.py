"""A PromQL condition over a real Prometheus fires Jobs on its false → true edge through the Sensor engine.

Prometheus scrapes a metrics endpoint whose value the test sets; the test moves the operator's clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from jobwire.timing.clock import SteppedClock
from tests.support.inprocess import InProcessOperator, in_process_operator
from tests.support.kube import Cluster
from tests.support.operator import free_port
from tests.support.sensors import (
    INTERVAL,
    SENSORS,
    condition,
    created,
    events_of_jobs,
    first_poll,
    next_poll_delay,
    poll_after_start,
    poll_once,
    polled,
    sensor,
    status,
)
from tests.support.servers import PrometheusServer, prometheus, wait_for_prometheus
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster
__all__ = ["prometheus"]  # fixtures used by this module

ABOVE_FIVE = "result.result.size() > 0 && double(result.result[0].value[1]) > 5.0"


@pytest.fixture
def metric(namespace: str) -> str:
    """A metric of this test's own: what another test left in Prometheus does not matter."""
    return "jobwire_e2e_" + namespace.replace("-", "_")


def scrape(prometheus: PrometheusServer, metric: str, value: int) -> None:
    """Serve `value` for `metric` and wait until Prometheus has scraped it."""
    prometheus.target.reply("/metrics", text=f"# TYPE {metric} gauge\n{metric} {value}\n")
    wait_for_prometheus(prometheus, metric, str(value))


def above_five(name: str, namespace: str, prometheus: PrometheusServer, query: str) -> dict[str, Any]:
    return sensor(name, namespace, {"prometheus": {"url": prometheus.url, "query": query, "condition": ABOVE_FIVE}})


def outcome(current: dict[str, Any]) -> tuple[str, str]:
    return current["lastPoll"]["outcome"], current["lastPoll"].get("reason", "")


def test_the_false_to_true_edge_fires_once_and_again_after_going_false(
    cluster: Cluster, namespace: str, op: InProcessOperator, prometheus: PrometheusServer, metric: str
) -> None:
    scrape(prometheus, metric, 3)
    name = created(cluster, namespace, above_five("depth", namespace, prometheus, metric))
    assert outcome(first_poll(op, cluster, namespace, name)) == ("Skipped", "ConditionFalse")

    scrape(prometheus, metric, 9)
    edge = poll_once(op, cluster, namespace, name)
    assert outcome(edge) == ("Fired", "")
    assert edge["conditionState"] is True
    [event] = events_of_jobs(cluster, namespace, name)
    assert event["condition"] is True
    assert "vector of 1 series" in event["detail"]

    assert outcome(poll_once(op, cluster, namespace, name)) == ("Skipped", "ConditionUnchanged")
    assert len(events_of_jobs(cluster, namespace, name)) == 1

    scrape(prometheus, metric, 2)
    assert outcome(poll_once(op, cluster, namespace, name)) == ("Skipped", "ConditionFalse")
    scrape(prometheus, metric, 7)
    again = poll_once(op, cluster, namespace, name)
    assert outcome(again) == ("Fired", "")
    assert len(events_of_jobs(cluster, namespace, name)) == 2
    assert [p["outcome"] for p in again["recentPolls"]] == ["Fired", "Skipped", "Skipped", "Fired", "Skipped"]


def change_query(cluster: Cluster, namespace: str, name: str, query: str) -> dict[str, Any]:
    """Change the Sensor's query; a changed spec is polled at once: return the status after that poll."""
    before = len(status(cluster, namespace, name).get("recentPolls") or [])
    patch = json.dumps({"spec": {"source": {"prometheus": {"query": query}}}})
    cluster.kubectl("patch", SENSORS, name, "-n", namespace, "--type=merge", "-p", patch)
    return polled(cluster, namespace, name, before)


def test_a_failing_query_backs_off_and_recovery_keeps_the_edge(
    cluster: Cluster, namespace: str, op: InProcessOperator, prometheus: PrometheusServer, metric: str
) -> None:
    scrape(prometheus, metric, 9)
    name = created(cluster, namespace, above_five("flaky", namespace, prometheus, metric))
    assert outcome(first_poll(op, cluster, namespace, name)) == ("Fired", "")

    failed = change_query(cluster, namespace, name, f"sum({metric}")
    assert failed["lastPoll"]["outcome"] == "Failed"
    assert failed["lastPoll"]["reason"].startswith("BadResponse: ")
    healthy = condition(failed, "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "BadResponse")
    assert "bad_data" in healthy["message"]
    assert (failed["consecutiveFailures"], next_poll_delay(failed)) == (1, 2 * INTERVAL)
    still = poll_once(op, cluster, namespace, name, by=2 * INTERVAL)
    assert (still["lastPoll"]["outcome"], still["consecutiveFailures"]) == ("Failed", 2)
    assert next_poll_delay(still) == 2 * INTERVAL  # doubled again, but never more than 10 minutes

    # Failed polls did not make the condition false: true again after them is no new edge.
    recovered = change_query(cluster, namespace, name, metric)
    assert outcome(recovered) == ("Skipped", "ConditionUnchanged")
    assert recovered["consecutiveFailures"] == 0
    assert condition(recovered, "Healthy")["status"] == "True"
    assert next_poll_delay(recovered) == INTERVAL
    assert len(events_of_jobs(cluster, namespace, name)) == 1


@pytest.fixture
def refused_jobs(cluster: Cluster, namespace: str) -> Iterator[dict[str, Any]]:
    """An admission webhook that nothing answers (failurePolicy Fail), for Jobs in this namespace only: while it is
    there, the API server answers every Job creation with an error (500). Applied by the test; deleted after."""
    name = f"refuse-jobs-{namespace}"
    hook = {
        "name": "refuse-jobs.jobwire.test",
        "clientConfig": {"url": f"https://127.0.0.1:{free_port()}/refuse"},
        "rules": [{"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["jobs"]}],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 2,
    }
    manifest = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [hook],
    }
    try:
        yield manifest
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", name, "--ignore-not-found", check=False)


def job_creation_works(cluster: Cluster, namespace: str) -> bool:
    probe = ["create", "job", "probe", "-n", namespace, "--image=busybox:1.36", "--dry-run=server"]
    return cluster.kubectl(*probe, check=False).returncode == 0


def test_an_edge_whose_job_could_not_be_made_makes_it_after_the_api_recovers(
    cluster: Cluster,
    namespace: str,
    op: InProcessOperator,
    prometheus: PrometheusServer,
    metric: str,
    refused_jobs: dict[str, Any],
) -> None:
    # The first poll finds the condition false: it may come before the refusal is in place (a spread under a
    # second) without making a Job. The edge comes at the next poll, which only the test's clock brings.
    scrape(prometheus, metric, 3)
    name = created(cluster, namespace, above_five("blocked", namespace, prometheus, metric))
    assert outcome(first_poll(op, cluster, namespace, name)) == ("Skipped", "ConditionFalse")
    assert cluster.apply(refused_jobs).returncode == 0
    eventually(lambda: not job_creation_works(cluster, namespace), what="Job creation to be refused")

    scrape(prometheus, metric, 9)
    failed = poll_once(op, cluster, namespace, name)
    assert outcome(failed)[0] == "Failed"
    assert condition(failed, "Healthy")["reason"] == "ApiUnavailable"
    assert events_of_jobs(cluster, namespace, name) == []

    cluster.kubectl("delete", "validatingwebhookconfiguration", refused_jobs["metadata"]["name"])
    eventually(lambda: job_creation_works(cluster, namespace), what="Job creation to work again")
    recovered = poll_once(op, cluster, namespace, name, by=2 * INTERVAL)
    assert recovered["consecutiveFailures"] == 0
    # The condition turned true once: one Job for that edge, made now that the API server takes it.
    eventually(lambda: len(events_of_jobs(cluster, namespace, name)) == 1, what="the Job of the edge")
    assert events_of_jobs(cluster, namespace, name)[0]["condition"] is True
    assert not status(cluster, namespace, name).get("outbox")


def test_the_condition_survives_an_operator_restart(
    cluster: Cluster, namespace: str, prometheus: PrometheusServer, metric: str
) -> None:
    clock = SteppedClock()
    scrape(prometheus, metric, 9)
    with in_process_operator(cluster.kubeconfig, namespace, clock) as first:
        name = created(cluster, namespace, above_five("durable", namespace, prometheus, metric))
        assert outcome(first_poll(first, cluster, namespace, name)) == ("Fired", "")

    with in_process_operator(cluster.kubeconfig, namespace, clock) as second:
        assert outcome(poll_after_start(second, cluster, namespace, name)) == ("Skipped", "ConditionUnchanged")
        assert len(events_of_jobs(cluster, namespace, name)) == 1
        scrape(prometheus, metric, 1)
        assert outcome(poll_once(second, cluster, namespace, name)) == ("Skipped", "ConditionFalse")
        scrape(prometheus, metric, 6)
        assert outcome(poll_once(second, cluster, namespace, name)) == ("Fired", "")
    assert len(events_of_jobs(cluster, namespace, name)) == 2

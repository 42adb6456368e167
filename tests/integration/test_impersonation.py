"""Jobs are created as a ServiceAccount of the resource's own namespace, not as the operator.

Every test namespace has `jobwire-runner` bound to the runner ClusterRole (tests/conftest.py), as a platform team
would set it up; these tests take it away or name another ServiceAccount, and the operator — which runs as the
cluster admin here, so could create anything itself — must not make the Job."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.builders import schedule
from tests.support.inprocess import InProcessOperator
from tests.support.kube import Cluster
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

SCHEDULES = "schedules.jobwire.io"


def ready_condition(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = cluster.get(SCHEDULES, name, namespace).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)

    return eventually(check, what=f"{name} Ready")


def jobs(cluster: Cluster, namespace: str) -> list[str]:
    return cluster.kubectl("get", "jobs", "-n", namespace, "-o", "name").stdout.split()


def test_a_service_account_that_may_not_create_jobs_gets_no_job(
    cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str
) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    assert cluster.apply(schedule("locked", namespace, cron=hourly, serviceAccountName="nobody")).returncode == 0
    condition = ready_condition(cluster, namespace, "locked")
    assert (condition["status"], condition["reason"]) == ("False", "Forbidden")
    assert f"system:serviceaccount:{namespace}:nobody" in condition["message"]
    assert jobs(cluster, namespace) == []


def test_granting_the_service_account_lets_jobs_through(
    cluster: Cluster, namespace: str, op: InProcessOperator, hourly: str
) -> None:
    cluster.kubectl("delete", "rolebinding", "jobwire-runner", "-n", namespace)
    assert cluster.apply(schedule("gated", namespace, cron=hourly)).returncode == 0
    denied = ready_condition(cluster, namespace, "gated")
    assert (denied["status"], denied["reason"]) == ("False", "Forbidden")
    assert f"system:serviceaccount:{namespace}:jobwire-runner" in denied["message"]
    cluster.kubectl(
        "create",
        "rolebinding",
        "jobwire-runner",
        "-n",
        namespace,
        "--clusterrole=jobwire-runner",
        f"--serviceaccount={namespace}:jobwire-runner",
    )
    # A spec change reloads the Schedule (and asks the API server again).
    cluster.kubectl("patch", SCHEDULES, "gated", "-n", namespace, "--type=merge", "-p", '{"spec":{"jitterSeconds":1}}')
    eventually(lambda: ready_condition(cluster, namespace, "gated")["status"] == "True", what="Ready after the grant")
    cluster.kubectl("annotate", SCHEDULES, "gated", "-n", namespace, "jobwire.io/run-requested-at=1")
    assert len(eventually(lambda: jobs(cluster, namespace), what="the Job")) == 1

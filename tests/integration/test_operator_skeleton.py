"""`jobwire run` on the real control plane: it accepts each kind, says so in status, and serves its probes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.test_crds_on_cluster import VALID, manifest
from tests.support.kube import Cluster
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.cluster


def wait_for_status(
    cluster: Cluster, resource: str, name: str, namespace: str, timeout: float = 30.0
) -> dict[str, Any]:
    result = cluster.kubectl(
        "wait",
        resource,
        name,
        "-n",
        namespace,
        f"--timeout={int(timeout)}s",
        "--for=jsonpath={.status.observedGeneration}=1",
    )
    assert result.returncode == 0
    return cluster.get(resource, name, namespace)["status"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_kind_gets_ready_and_observed_generation(
    cluster: Cluster, operator: OperatorProcess, namespace: str, kind: str
) -> None:
    assert cluster.apply(manifest(kind, "accepted", namespace, VALID[kind])).returncode == 0
    status = wait_for_status(cluster, f"{kind.lower()}s.jobwire.io", "accepted", namespace)
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert len(ready) == 1
    assert ready[0]["observedGeneration"] == 1
    assert ready[0]["lastTransitionTime"].endswith("Z")


def test_probes_and_metrics_answer(operator: OperatorProcess) -> None:
    assert httpx.get(f"{operator.probe_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{operator.probe_url}/readyz").status_code == 200
    metrics = httpx.get(f"{operator.probe_url}/metrics")
    assert metrics.status_code == 200
    assert "jobwire_jobs_created_total" in metrics.text


def test_kopf_leaves_no_marks_and_no_finalizer(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    """Every kind is followed through raw watch events: Kopf keeps no last-handled spec in an annotation (which
    every replica would write, hiding a change from the leader) and adds no finalizer."""
    assert cluster.apply(manifest("Schedule", "marks", namespace, VALID["Schedule"])).returncode == 0
    wait_for_status(cluster, "schedules.jobwire.io", "marks", namespace)
    meta = cluster.get("schedules.jobwire.io", "marks", namespace)["metadata"]
    assert "finalizers" not in meta
    assert [a for a in meta.get("annotations", {}) if "kopf" in a] == []
    assert list(meta["annotations"]) == ["kubectl.kubernetes.io/last-applied-configuration"]

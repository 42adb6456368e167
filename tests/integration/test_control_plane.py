"""The local control plane does what every other test relies on: Jobs run, fail on purpose, and are collected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobwire.dev.cluster import FAKE_OUTCOME_ANNOTATION
from tests.support.kube import Cluster

pytestmark = pytest.mark.cluster


def job(name: str, *, fail: bool = False) -> dict[str, Any]:
    annotations = {FAKE_OUTCOME_ANNOTATION: "fail"} if fail else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            },
        },
    }


def wait_for_condition(cluster: Cluster, namespace: str, name: str, condition: str) -> None:
    cluster.kubectl("wait", f"--for=condition={condition}", "--timeout=60s", f"job/{name}", "-n", namespace)


def test_version_tells_the_truth(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("get", "--raw", "/version").stdout)
    assert version["gitVersion"].startswith("v1.35.")
    assert (version["major"], version["minor"]) == ("1", "35")


def test_a_job_runs_to_succeeded(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(job("ok")))
    wait_for_condition(cluster, namespace, "ok", "Complete")
    assert cluster.get("job", "ok", namespace)["status"]["succeeded"] == 1


def test_a_job_fails_on_purpose(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(job("bad", fail=True)))
    wait_for_condition(cluster, namespace, "bad", "Failed")
    pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-l", "job-name=bad", "-o", "json").stdout)
    terminated = pods["items"][0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 1


def test_owner_references_are_garbage_collected(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = cluster.get("configmap", "owner", namespace)["metadata"]["uid"]
    child = job("child")
    child["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(child))
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    gone = cluster.kubectl("wait", "--for=delete", "--timeout=60s", "job/child", "-n", namespace, check=False)
    assert gone.returncode == 0, f"the Job owned by a deleted ConfigMap was not collected: {gone.stderr}"

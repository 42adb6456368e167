"""Every example in examples/ is applied to the control plane, and what its README promises is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobwire.schedules import tick_source
from tests.support.inprocess import in_process_operator
from tests.support.jsonserver import json_server
from tests.support.kube import Cluster
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(folder: str, namespace: str) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((EXAMPLES / folder).glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            document["metadata"]["namespace"] = namespace
            documents.append(document)
    return documents


def test_every_example_folder_has_a_readme_and_a_test() -> None:
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert folders == ["failed-job-alert", "hello-schedule", "job-b-after-job-a"]
    for folder in folders:
        assert (EXAMPLES / folder / "README.md").exists()


def test_hello_schedule_runs_a_job_every_minute(cluster: Cluster, namespace: str) -> None:
    with in_process_operator(cluster.kubeconfig, namespace) as op:
        [manifest] = load("hello-schedule", namespace)
        assert cluster.apply(manifest).returncode == 0
        name = manifest["metadata"]["name"]

        def ready() -> bool:
            status = cluster.get("schedules.jobwire.io", name, namespace).get("status") or {}
            return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])

        eventually(ready, what="the example to be Ready")
        spec = manifest["spec"]
        [tick] = tick_source(cron=spec["cron"], interval=None, time_zone=spec["timeZone"]).after(op.clock.now(), 1)
        op.clock.set(tick)
        jobs = eventually(
            lambda: cluster.kubectl(
                "get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={name}", "-o", "name"
            ).stdout.split(),
            what="the example's Job",
        )
        assert len(jobs) == 1


def ready_all(cluster: Cluster, namespace: str, manifests: list[dict[str, Any]]) -> None:
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            continue
        resource = f"{manifest['kind'].lower()}s.jobwire.io"

        def ready(resource: str = resource, name: str = manifest["metadata"]["name"]) -> bool:
            status = cluster.get(resource, name, namespace).get("status") or {}
            return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])

        eventually(ready, what=f"{resource} {manifest['metadata']['name']} Ready")


def jobs_of(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={name}", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_job_b_runs_after_job_a(cluster: Cluster, namespace: str) -> None:
    with in_process_operator(cluster.kubeconfig, namespace):
        manifests = load("job-b-after-job-a", namespace)
        assert cluster.apply(*manifests).returncode == 0
        ready_all(cluster, namespace, manifests)
        cluster.kubectl("annotate", "schedules.jobwire.io", "extract", "-n", namespace, "jobwire.io/run-requested-at=1")
        [load_job] = eventually(lambda: jobs_of(cluster, namespace, "load-after-extract"), what="the load Job")
        [extract_job] = jobs_of(cluster, namespace, "extract")
        env = {e["name"]: e.get("value") for e in load_job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["AFTER_JOB"] == extract_job["metadata"]["name"]


def test_failed_job_alert_posts_a_slack_message(cluster: Cluster, namespace: str) -> None:
    with json_server() as sink, in_process_operator(cluster.kubeconfig, namespace):
        manifests = load("failed-job-alert", namespace)
        for manifest in manifests:
            if manifest["kind"] == "Secret":
                manifest["stringData"]["url"] = sink.url  # the local sink instead of Slack
        assert cluster.apply(*manifests).returncode == 0
        ready_all(cluster, namespace, manifests)
        cluster.kubectl(
            "annotate", "schedules.jobwire.io", "billing-report", "-n", namespace, "jobwire.io/run-requested-at=1"
        )
        [message] = eventually(lambda: sink.received, what="the Slack-style message")
        [job] = jobs_of(cluster, namespace, "billing-report")
        assert message == {"text": f":red_circle: Job {job['metadata']['name']} failed in {namespace}"}

"""Every example in examples/ is applied to the control plane, and what its README promises is checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jobwire.schedules import tick_source
from tests.support.inprocess import in_process_operator
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
    assert folders == ["hello-schedule"]
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

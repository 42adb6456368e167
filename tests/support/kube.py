"""The test control plane as tests see it: a kubeconfig and kubectl, on a real API server."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobwire.dev import runner
from tests.support.wait import eventually

__all__ = ["Cluster", "ready", "runner_namespace", "scratch_namespace", "status_of"]


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    kubectl_path: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            text=True,
            capture_output=True,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def apply(self, *manifests: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        """`kubectl apply` as a person would; the caller checks returncode and stderr."""
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)})
        return self.kubectl("apply", "-f", "-", input=body, check=False)

    def get(self, resource: str, name: str, namespace: str) -> dict[str, Any]:
        out = self.kubectl("get", resource, name, "-n", namespace, "-o", "json").stdout
        result: dict[str, Any] = json.loads(out)
        return result


def status_of(cluster: Cluster, resource: str, namespace: str, name: str) -> dict[str, Any]:
    """The object's `status` as the API server has it now (empty when it has none yet)."""
    found: dict[str, Any] = cluster.get(resource, name, namespace).get("status") or {}
    return found


def ready(cluster: Cluster, resource: str, namespace: str, name: str) -> dict[str, Any]:
    """Wait for the object's Ready condition to be True; its status then."""

    def check() -> dict[str, Any] | None:
        current = status_of(cluster, resource, namespace, name)
        conditions = {c["type"]: c for c in current.get("conditions") or []}
        return current if conditions.get("Ready", {}).get("status") == "True" else None

    return eventually(check, what=f"{resource} {name} Ready")


def runner_namespace(cluster: Cluster, prefix: str = "t") -> str:
    """A new namespace with the ServiceAccount the operator creates Jobs as (jobwire.dev.runner), as a platform
    team sets one up; the caller deletes it (`scratch_namespace` does)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    assert cluster.apply(*runner.binding(name)).returncode == 0
    return name


@contextmanager
def scratch_namespace(cluster: Cluster, prefix: str = "t") -> Iterator[str]:
    """`runner_namespace`, deleted afterwards (without waiting for it to go)."""
    name = runner_namespace(cluster, prefix)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)

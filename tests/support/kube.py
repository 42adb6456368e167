"""The test control plane as tests see it: a kubeconfig and kubectl, on a real API server."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Cluster"]


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

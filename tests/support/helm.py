"""Helm and the chart as tests use them: the pinned helm binary, rendering, and a ServiceAccount's kubeconfig."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube import Cluster

__all__ = ["CHART", "TEMPLATE_KUBE_VERSION", "Helm", "service_account_kubeconfig", "write_values"]

CHART = Path(__file__).resolve().parents[2] / "charts" / "jobwire"
# helm built from source (hack/controlplane.sh) has no Kubernetes version of its own for `helm template` (it says
# v1.20); a real cluster gives its own at install. Any version the chart supports will do.
TEMPLATE_KUBE_VERSION = "1.35.0"


@dataclass(frozen=True)
class Helm:
    binary: Path
    kubeconfig: Path | None = None

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.binary), *args]
        if self.kubeconfig is not None:
            command += ["--kubeconfig", str(self.kubeconfig)]
        result = subprocess.run(command, text=True, capture_output=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def template(self, values: Path, namespace: str, release: str = "jw") -> list[dict[str, Any]]:
        """The rendered manifests (no CRDs), as dicts."""
        out = self(
            "template", release, str(CHART), "-n", namespace, "-f", str(values), "--kube-version", TEMPLATE_KUBE_VERSION
        ).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


def write_values(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def service_account_kubeconfig(cluster: Cluster, namespace: str, name: str, path: Path) -> Path:
    """A kubeconfig for the test cluster whose user is the ServiceAccount `namespace/name`, with a token from the
    TokenRequest API (`kubectl create token`): it may do what that ServiceAccount's bindings allow, nothing more."""
    token = cluster.kubectl("create", "token", name, "-n", namespace, "--duration=2h").stdout.strip()
    config = yaml.safe_load(cluster.kubectl("config", "view", "--raw", "--minify", "--flatten").stdout)
    user = config["contexts"][0]["context"]["user"]
    config["users"] = [{"name": user, "user": {"token": token}}]
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path

"""The local control plane: kube-apiserver, controller-manager, scheduler and etcd run by kwokctl's binary runtime
from binaries built by hack/controlplane.sh, with a kwok fake node that runs the Pods of Jobs to completion.

    python -m jobwire.dev.cluster up|down|status

Pods of Jobs go Pending -> Running -> Succeeded within about a second; a Pod annotated
`jobwire.io/fake-outcome: fail` ends Failed with exit code 1 (give its Job `backoffLimit: 0` to fail at once), and
one annotated `jobwire.io/fake-outcome: hang` keeps running until it is deleted.
RBAC and admission are on, ServiceAccount tokens work, and the garbage collector follows ownerReferences.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["LocalCluster", "controlplane_bin", "repo_root"]

FAKE_OUTCOME_ANNOTATION = "jobwire.io/fake-outcome"
NODE_NAME = "kwok-node-0"

# kwok's own stages, from the pinned kwok module; kwokctl drops them as soon as any custom stage is given.
DEFAULT_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)

FAIL_STAGE = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1",
    "kind": "Stage",
    "metadata": {"name": "pod-fail-by-annotation"},
    "spec": {
        "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
        "selector": {
            "matchAnnotations": {FAKE_OUTCOME_ANNOTATION: "fail"},
            "matchExpressions": [
                {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
            ],
        },
        # Among several matching stages kwok picks only those with weight > 0: this one beats pod-complete.
        "weight": 100,
        "next": {
            "statusTemplate": """{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: PodFailed
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: PodFailed
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: 1
      reason: Error
      message: "failed on purpose by jobwire.io/fake-outcome=fail"
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: Failed
"""
        },
    },
}

NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": NODE_NAME,
        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"},
    },
    "spec": {},
}


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def controlplane_bin() -> Path:
    """Build (once, cached) or find the control plane binaries; the folder that holds them."""
    script = repo_root() / "hack" / "controlplane.sh"
    out = subprocess.run([str(script)], check=True, stdout=subprocess.PIPE, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def _kwok_module_dir() -> Path:
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
        cwd=repo_root() / "hack" / "kwok",
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    ).stdout.strip()
    return Path(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """One kwokctl cluster in its own work directory."""

    workdir: Path
    name: str = "jobwire"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "clusters" / self.name / "kubeconfig.yaml"

    @property
    def logs(self) -> Path:
        return self.workdir / "clusters" / self.name / "logs"

    def _env(self, bin_dir: Path) -> dict[str, str]:
        # Our kubectl first: kwokctl runs whichever kubectl PATH finds.
        return {**os.environ, "KWOK_WORKDIR": str(self.workdir), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

    def _config(self, bin_dir: Path) -> Path:
        stages_root = _kwok_module_dir() / "kustomize" / "stage"
        documents: list[object] = [
            {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokctlConfiguration",
                "options": {
                    "runtime": "binary",
                    "bindAddress": "127.0.0.1",
                    "quietPull": True,
                    "kubeApiserverPort": _free_port(),
                    "kubeApiserverBinary": str(bin_dir / "kube-apiserver"),
                    "kubeControllerManagerBinary": str(bin_dir / "kube-controller-manager"),
                    "kubeSchedulerBinary": str(bin_dir / "kube-scheduler"),
                    "kwokControllerBinary": str(bin_dir / "kwok"),
                    "etcdBinary": str(bin_dir / "etcd"),
                    "kubectlBinary": str(bin_dir / "kubectl"),
                },
                # One controller-manager and one scheduler need no leader election. With it, an API server outage
                # longer than the renew deadline (10 s) made both exit, and nothing here restarts them; without
                # it they ride the outage out as the operator does (tests/integration/test_faults.py stops the API
                # server for 20 s).
                "componentsPatches": [
                    {"name": name, "extraArgs": [{"key": "leader-elect", "value": "false"}]}
                    for name in ("kube-controller-manager", "kube-scheduler")
                ],
            }
        ]
        for stage in DEFAULT_STAGES:
            document = yaml.safe_load((stages_root / stage).read_text())
            if document["metadata"]["name"] == "pod-complete":
                # Pods told to fail or to hang are not completed (a missing annotation is NotIn: they are).
                document["spec"]["selector"].setdefault("matchExpressions", []).append(
                    {
                        "key": f'.metadata.annotations["{FAKE_OUTCOME_ANNOTATION}"]',
                        "operator": "NotIn",
                        "values": ["fail", "hang"],
                    }
                )
            documents.append(document)
        documents.append(FAIL_STAGE)
        path = self.workdir / "jobwire-kwokctl.yaml"
        path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        return path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        bin_dir = controlplane_bin()
        return subprocess.run(
            [str(bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            text=True,
            capture_output=True,
            check=check,
        )

    def up(self, timeout: float = 120.0) -> Path:
        """Start (or resume) the cluster; return its admin kubeconfig once a Job can run."""
        bin_dir = controlplane_bin()
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = self._env(bin_dir)
        kwokctl = str(bin_dir / "kwokctl")
        if (self.workdir / "clusters" / self.name).exists():
            command = [kwokctl, "--name", self.name, "start", "cluster", "--wait", f"{int(timeout)}s"]
        else:
            command = [
                kwokctl,
                "--config",
                str(self._config(bin_dir)),
                "--name",
                self.name,
                "create",
                "cluster",
                "--kubeconfig",
                "",
                "--wait",
                f"{int(timeout)}s",
                "--timeout",
                f"{int(timeout)}s",
            ]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"kwokctl failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        self._wait_usable(deadline=time.monotonic() + timeout)
        return self.kubeconfig

    def _wait_usable(self, deadline: float) -> None:
        """Ready means what tests need: API up, the fake node Ready, and the default ServiceAccount there."""
        problem = "API server not answering"
        while time.monotonic() < deadline:
            if self.kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
                problem = "API server not ready"
            elif self.kubectl("apply", "-f", "-", input=json.dumps(NODE), check=False).returncode != 0:
                problem = "fake node not created"
            elif (
                "True"
                not in self.kubectl(
                    "get",
                    "node",
                    NODE_NAME,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                    check=False,
                ).stdout
            ):
                problem = "fake node not Ready"
            elif self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode != 0:
                problem = "default ServiceAccount not created yet"
            else:
                return
            time.sleep(0.25)
        raise RuntimeError(f"local control plane not usable in time: {problem} (logs in {self.logs})")

    def stop(self) -> None:
        """Stop the processes; the data stays for the next `up`."""
        bin_dir = controlplane_bin()
        subprocess.run(
            [str(bin_dir / "kwokctl"), "--name", self.name, "stop", "cluster"],
            env=self._env(bin_dir),
            capture_output=True,
            text=True,
            check=False,
        )

    def delete(self) -> None:
        """Stop the processes and remove the cluster's data."""
        bin_dir = controlplane_bin()
        throwaway = self.workdir / "unused-kubeconfig"
        subprocess.run(
            [str(bin_dir / "kwokctl"), "--name", self.name, "delete", "cluster", "--kubeconfig", str(throwaway)],
            env=self._env(bin_dir),
            capture_output=True,
            text=True,
            check=False,
        )
        shutil.rmtree(self.workdir / "clusters" / self.name, ignore_errors=True)

    def install_crds(self) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(repo_root() / "crds"))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(repo_root() / "crds"))


def default_cluster() -> LocalCluster:
    """The cluster of `make cluster-up` and `make run`, kept in the repo's .run/ (ignored by git)."""
    return LocalCluster(workdir=repo_root() / ".run" / "kwok")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobwire.dev.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "delete", "status"])
    args = parser.parse_args(argv)
    cluster = default_cluster()
    if args.action == "up":
        started = time.monotonic()
        kubeconfig = cluster.up()
        cluster.install_crds()
        print(f"local control plane ready in {time.monotonic() - started:.1f}s")
        print(f"export KUBECONFIG={kubeconfig}")
    elif args.action == "down":
        cluster.stop()
        print("local control plane stopped (data kept; `make cluster-up` resumes it)")
    elif args.action == "delete":
        cluster.delete()
        print("local control plane deleted")
    else:
        ok = cluster.kubeconfig.exists() and cluster.kubectl("get", "--raw", "/readyz", check=False).returncode == 0
        print(f"{'running' if ok else 'not running'}; kubeconfig: {cluster.kubeconfig}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make run`: install the CRDs and run the operator in the foreground.

Against the cluster in $KUBECONFIG when one answers; otherwise against the local control plane, started here and
stopped again on Ctrl-C (its data stays in .run/ for the next time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jobwire.dev import runner
from jobwire.dev.cluster import controlplane_bin, default_cluster, repo_root

__all__ = ["main"]


def _answers(kubeconfig: str) -> bool:
    kubectl = controlplane_bin() / "kubectl"
    probe = subprocess.run(
        [str(kubectl), "--kubeconfig", kubeconfig, "--request-timeout=5s", "get", "--raw", "/readyz"],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0


def main() -> int:
    given = os.environ.get("KUBECONFIG")
    local = None
    if given and _answers(given):
        kubeconfig = Path(given)
        print(f"jobwire: using the cluster in KUBECONFIG={kubeconfig}")
    else:
        if given:
            print(f"jobwire: the cluster in KUBECONFIG={given} does not answer; starting the local control plane")
        else:
            print("jobwire: no KUBECONFIG; starting the local control plane (first time: builds it, ~10 min)")
        local = default_cluster()
        kubeconfig = local.up()
    kubectl = controlplane_bin() / "kubectl"
    subprocess.run(
        [
            str(kubectl),
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            str(repo_root() / "crds"),
        ],
        check=True,
    )
    # Jobs are created as the ServiceAccount jobwire-runner of their namespace: set it up for `default`.
    subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
        input=json.dumps(runner.manifests(["default"])).encode(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(
        f"""
  kubeconfig:  {kubeconfig}
  try it, in another terminal:
      export KUBECONFIG={kubeconfig} PATH={kubectl.parent}:$PATH
      kubectl apply -f examples/hello-schedule/
      kubectl get jobwire,jobs -A
  Ctrl-C stops the operator{" and the local control plane" if local else ""}.
""",
        flush=True,
    )
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    operator = subprocess.Popen([sys.executable, "-m", "jobwire.cli.main", "run"], env=env)
    try:
        return operator.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the whole process group: the operator is stopping on its own.
        return operator.wait()
    finally:
        if local is not None:
            local.stop()
            print("jobwire: local control plane stopped")


if __name__ == "__main__":
    sys.exit(main())

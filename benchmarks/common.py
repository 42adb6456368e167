"""Shared pieces of the benchmarks: a control plane, the operator as a process, percentiles, /proc readings."""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jobwire.dev import runner
from jobwire.dev.cluster import LocalCluster
from jobwire.kube.api import Kube
from jobwire.kube.errors import AlreadyExists

__all__ = ["Process", "cluster_kubeconfig", "cpu_by_process", "cpu_spent", "create_namespace", "percentile", "summary"]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: Sequence[float]) -> str:
    return (
        f"n={len(values)} p50={percentile(values, 50):.3f}s p99={percentile(values, 99):.3f}s "
        f"max={max(values, default=float('nan')):.3f}s"
    )


@contextmanager
def cluster_kubeconfig(control_plane_cpus: set[int] | None = None) -> Iterator[Path]:
    """$BENCH_KUBECONFIG if given, else a fresh local control plane for this run (deleted afterwards).

    `control_plane_cpus`: the local control plane's processes run on these CPUs alone (they inherit the mask they
    are started with; Go sizes GOMAXPROCS by it), and this process on the others from then on — as in a cluster,
    where the operator and its clients do not share the API server's cores."""
    given = os.environ.get("BENCH_KUBECONFIG")
    if given:
        if control_plane_cpus is not None:
            raise ValueError("a control plane of one's own ($BENCH_KUBECONFIG) cannot be placed on CPUs")
        yield Path(given)
        return
    local = LocalCluster(workdir=Path(tempfile.mkdtemp(prefix="jobwire-bench-")), name="bench")
    if control_plane_cpus is None:
        kubeconfig = local.up()
    else:
        everywhere = os.sched_getaffinity(0)
        rest = everywhere - control_plane_cpus
        if not control_plane_cpus <= everywhere or not rest:
            raise ValueError(f"cannot split CPUs {sorted(everywhere)} into {sorted(control_plane_cpus)} and the rest")
        os.sched_setaffinity(0, control_plane_cpus)
        try:
            kubeconfig = local.up()
        finally:
            os.sched_setaffinity(0, rest)
    local.install_crds()
    try:
        yield kubeconfig
    finally:
        local.delete()


def cpu_by_process(names: dict[int, str]) -> dict[int, tuple[str, float]]:
    """pid -> (program, CPU seconds so far) for every process on the machine. `names` overrides the program name of
    given pids (the operator and the benchmark are both `python`); kernel workers, which rename themselves after
    their current work, are all `kworker`."""
    ticks = os.sysconf("SC_CLK_TCK")
    readings: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        pid, fields = int(entry.name), stat.rsplit(")", 1)[1].split()
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        program = names.get(pid, "kworker" if command.startswith("kworker/") else command)
        readings[pid] = (program, (int(fields[11]) + int(fields[12])) / ticks)
    return readings


def cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds used between two `cpu_by_process` readings, by program (a process started meanwhile counts in
    full; one that ended meanwhile is missed)."""
    spent: dict[str, float] = {}
    for pid, (program, seconds) in after.items():
        spent[program] = spent.get(program, 0.0) + seconds - (before[pid][1] if pid in before else 0.0)
    return spent


@dataclass
class Process:
    """The operator (`jobwire run`) as a child process, with its CPU time and peak RSS from /proc."""

    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def operator(cls, kubeconfig: Path, namespace: str, log: Path, *extra: str) -> Process:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "JOBWIRE_HTTP_HOST": "127.0.0.1"}
        profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
        args = [sys.executable, *profile, "-m", "jobwire.cli.main", "run", "-n", namespace, "--probe-port", "0", *extra]
        process = cls(subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT), log)
        # Stopped however the run ends: an operator left behind by a run that failed keeps its port, and the next
        # run's operator cannot bind it (its requests would go to the one left behind).
        atexit.register(process.stop)
        return process

    def check(self) -> None:
        """Raise if the operator has exited (it cannot bind its port, say): its log says why."""
        if self.popen.poll() is not None:
            raise RuntimeError(f"the operator exited with {self.popen.returncode}; its log: {self.log}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        """Idempotent: a second call finds the process gone."""
        self.popen.terminate()
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()


async def create_namespace(kube: Kube, name: str) -> None:
    """The namespace, with the ServiceAccount Jobs are created as (jobwire.dev.runner), as the tests set it up."""
    paths = {
        "Namespace": "/api/v1/namespaces",
        "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "ServiceAccount": f"/api/v1/namespaces/{name}/serviceaccounts",
        "RoleBinding": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/rolebindings",
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    for item in [namespace, runner.cluster_role(), *runner.binding(name)]:
        with contextlib.suppress(AlreadyExists):
            await kube.create(paths[item["kind"]], item)

"""Session fixtures: the real control plane (started once), and a fresh namespace per test.

The control plane is the project's own (hack/controlplane.sh + kwokctl), or an existing cluster named by
JOBWIRE_TEST_KUBECONFIG. If neither can be had, the tests that need it fail: they never skip.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobwire.dev import runner
from jobwire.dev.cluster import LocalCluster, controlplane_bin
from tests.support.inprocess import InProcessOperator, in_process_operator
from tests.support.kube import Cluster, scratch_namespace
from tests.support.operator import OperatorProcess


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    kubectl = controlplane_bin() / "kubectl"
    existing = os.environ.get("JOBWIRE_TEST_KUBECONFIG")
    if existing:
        handle = Cluster(kubeconfig=Path(existing), kubectl_path=kubectl)
        local = None
    else:
        workdir = Path(tempfile.mkdtemp(prefix="jobwire-test-cluster-"))
        local = LocalCluster(workdir=workdir, name="test")
        handle = Cluster(kubeconfig=local.up(), kubectl_path=kubectl)
    crds = Path(__file__).resolve().parents[1] / "crds"
    handle.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    handle.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds))
    assert handle.apply(runner.cluster_role()).returncode == 0
    try:
        yield handle
    finally:
        if local is not None:
            local.delete()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace of the test's own, with the identity the operator creates Jobs as (set up per namespace)."""
    with scratch_namespace(cluster) as name:
        yield name


@pytest.fixture(scope="module")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """An operator watching the whole cluster, as `jobwire run` runs it — one per test module.

    Not one per session: it would outlive its modules and act, with the real clock, on the objects of the modules
    that run an operator of their own in-process (scoped to their namespace, with a stepped clock). Two operators
    polling one Sensor made a test see a poll it never asked for."""
    process = OperatorProcess(kubeconfig=cluster.kubeconfig, log_path=tmp_path_factory.mktemp("operator") / "log")
    process.start()
    try:
        yield process
    finally:
        code = process.stop()
        assert code == 0, f"the operator did not stop cleanly on SIGTERM (exit {code}); log: {process.log_path}"


@pytest.fixture
def op(cluster: Cluster, namespace: str) -> Iterator[InProcessOperator]:
    """The operator in-process, watching the test's namespace, on a clock the test moves (support/inprocess.py)."""
    with in_process_operator(cluster.kubeconfig, namespace) as operator:
        yield operator


@pytest.fixture
def hourly() -> str:
    """An hourly cron expression whose ticks are at least 29 minutes of real time away from the test's start.

    The in-process operator's clock is real time plus the jumps a test makes: `0 * * * *` in a test that runs a
    few seconds before the hour would tick by itself and make a Job the test never asked for.
    """
    return f"{(datetime.now(UTC).minute + 30) % 60} * * * *"

"""Faults the reliability tests inject, and the clients that live through them.

- `ControlPlane`: kill a component of the local control plane (kube-apiserver, etcd, ...) and start it again.
  kwokctl v0.8 has no command to stop one component, so it is done as kwokctl itself does it: its binary runtime
  keeps each component's pid in `<cluster>/pids/<component>.pid`; the process is SIGKILLed (a crash: no graceful
  shutdown, connections refused at once), and `kwokctl start cluster` (`LocalCluster.up`) starts every component
  that is not running, with its original flags, ports and data.
- `RetryingSender`: a webhook sender that retries each delivery (same `Idempotency-Key`) until it gets a 2xx,
  as GitHub's "redeliver" or Stripe's retries do, recording every answer it got on the way.
- `finish_pods`: the Pods of Jobs that hang on the fake node are told to succeed or fail.
- `items_server`: a JSON endpoint for a Sensor that keeps the headers of each request (did a secret header go out?).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from jobwire.dev.cluster import FAKE_OUTCOME_ANNOTATION, LocalCluster
from tests.support.kube import Cluster
from tests.support.wait import eventually

__all__ = ["ControlPlane", "Delivery", "ItemsServer", "RetryingSender", "finish_pods", "items_server", "jobs_of"]

CONTROLLERS = ("kube-controller-manager", "kube-scheduler")


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _elects(pid: int) -> bool:
    """Whether the process takes part in leader election (the default of the controller-manager and scheduler)."""
    return "--leader-elect=false" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@dataclass(frozen=True)
class ControlPlane:
    """The kwokctl cluster behind a kubeconfig that `LocalCluster` made (`<workdir>/clusters/<name>/...`)."""

    kubeconfig: Path

    @property
    def local(self) -> LocalCluster:
        return LocalCluster(workdir=self.kubeconfig.parents[2], name=self.kubeconfig.parent.name)

    def pid(self, component: str) -> int | None:
        path = self.kubeconfig.parent / "pids" / f"{component}.pid"
        if not path.exists():
            raise AssertionError(
                f"no {path}: the cluster of {self.kubeconfig} is not a local kwokctl cluster, whose components "
                "this test must stop (run it on the suite's own control plane, without JOBWIRE_TEST_KUBECONFIG)"
            )
        pid = int(path.read_text().strip())
        return pid if _alive(pid) else None

    def kill(self, component: str = "kube-apiserver") -> None:
        """SIGKILL one component and wait until it is gone."""
        pid = self.pid(component)
        assert pid is not None, f"{component} is not running"
        os.kill(pid, signal.SIGKILL)
        # Gone, not just a zombie: kwokctl takes a pid that signal 0 reaches for a running component.
        eventually(lambda: not Path(f"/proc/{pid}").exists(), timeout=30, what=f"{component} (pid {pid}) to exit")

    def start(self, timeout: float = 120.0) -> datetime:
        """Bring the control plane back; return the moment the API server was started again.

        `kwokctl start cluster` (`LocalCluster.up`) starts every component that is not running. The controllers
        that outlived the outage (controller-manager, scheduler) are then started afresh: their informers back off
        while the API server is away, and left alone the job controller took over a minute to make the Pod of a new
        Job, which the tests that run next would wait out. A fresh one connects at once (they run without leader
        election; on a cluster made before `LocalCluster` turned it off, this waits until each has renewed its
        lease). kwok is left alone: it holds the fake node's Lease, and a new kwok waits that out (over a minute)."""
        since = datetime.now(UTC)
        self.local.up(timeout=timeout)
        for component in CONTROLLERS:
            if self.pid(component) is not None:
                self.kill(component)
        restarted = datetime.now(UTC)
        self.local.up(timeout=timeout)

        def whole() -> bool:
            pids = {component: self.pid(component) for component in CONTROLLERS}
            if any(pid is None for pid in pids.values()):  # one that electing made exit after the check above
                self.local.up(timeout=timeout)
                return False
            return all(self._renewed(component) > restarted for component, pid in pids.items() if pid and _elects(pid))

        eventually(whole, timeout=timeout, what="the controllers to run (and lead) again")
        return since

    def runs_jobs(self, timeout: float = 120.0) -> None:
        """Return once a Job runs to its end: the job controller, the scheduler and kwok all work again. kwok's
        informers back off during an outage too: its first Pod after a 20 s one waited 10 to 20 s. A test calls
        this last, so that the wait overlaps its own."""
        name = f"canary-{uuid.uuid4().hex[:8]}"
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 0,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}
                },
            },
        }
        self.local.kubectl("apply", "-f", "-", input=json.dumps(job))

        def done() -> bool:
            result = self.local.kubectl(
                "get", "job", name, "-n", "default", "-o", "jsonpath={.status.succeeded}", check=False
            )
            # Gone counts too: the TTL controller may remove it as soon as it has finished.
            return result.returncode != 0 or result.stdout.strip() == "1"

        eventually(done, timeout=timeout, what=f"the canary Job {name} to run after the outage")

    def _renewed(self, lease: str) -> datetime:
        result = self.local.kubectl(
            "get", "lease", lease, "-n", "kube-system", "-o", "jsonpath={.spec.renewTime}", check=False
        )
        if result.returncode != 0 or not result.stdout.strip():
            return datetime.min.replace(tzinfo=UTC)
        return datetime.fromisoformat(result.stdout.strip().replace("Z", "+00:00"))


@dataclass
class Delivery:
    """One delivery: its id (sent as `Idempotency-Key` on every attempt), its body, and what it got."""

    key: str
    body: bytes
    attempts: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    """Attempts that got no 2xx, by what they got: an HTTP status ("503") or "transport" (no answer)."""
    status: int | None = None
    answer: dict[str, Any] | None = None
    refusals: list[str] = field(default_factory=list)
    """The bodies of the answers that were not 2xx, for the failure message of a test."""


@dataclass
class RetryingSender:
    """Sends every delivery, `concurrency` at a time, each retried until a 2xx or `give_up_after` seconds."""

    url: str
    deliveries: list[Delivery]
    headers: dict[str, str] = field(default_factory=dict)
    concurrency: int = 8
    give_up_after: float = 120.0
    backoff: float = 0.05
    """Seconds between attempts of one delivery (a Retry-After longer than a second is honoured up to one)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _accepted: int = 0
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def accepted(self) -> int:
        with self._lock:
            return self._accepted

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retrying-sender", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(30)
            raise AssertionError(f"the sender did not finish within {timeout}s ({self.accepted} accepted)")

    def undelivered(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status is None]

    def _run(self) -> None:
        pending: Iterator[Delivery] = iter(self.deliveries)
        lock = threading.Lock()

        def worker() -> None:
            with httpx.Client(timeout=10.0) as client:
                while True:
                    with lock:
                        delivery = next(pending, None)
                    if delivery is None:
                        return
                    self._deliver(client, delivery)

        with ThreadPoolExecutor(self.concurrency) as pool:
            for future in [pool.submit(worker) for _ in range(self.concurrency)]:
                future.result()

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> None:
        deadline = time.monotonic() + self.give_up_after
        while time.monotonic() < deadline and not self._stop.is_set():
            delivery.attempts += 1
            wait = self.backoff
            try:
                response = client.post(
                    self.url,
                    content=delivery.body,
                    headers={"Content-Type": "application/json", "Idempotency-Key": delivery.key, **self.headers},
                )
            except httpx.TransportError:
                delivery.failures["transport"] += 1
            else:
                if 200 <= response.status_code < 300:
                    delivery.status, delivery.answer = response.status_code, response.json()
                    with self._lock:
                        self._accepted += 1
                    return
                delivery.failures[str(response.status_code)] += 1
                delivery.refusals.append(f"{response.status_code} {response.text[:300]}")
                retry_after = response.headers.get("Retry-After")
                if retry_after is not None and retry_after.isdigit():
                    wait = max(wait, min(float(retry_after), 1.0))
            self._stop.wait(wait)


def jobs_of(cluster: Cluster, namespace: str, producer: str) -> list[dict[str, Any]]:
    """The Jobs a producer made (by the `jobwire.io/name` label), as the API server has them."""
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={producer}", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def finish_pods(cluster: Cluster, namespace: str, job: str, outcome: str | None = None) -> None:
    """Tell the hanging Pod of `job` to succeed (outcome None) or fail ("fail") on the fake node."""
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", f"job-name={job}", "-o", "name").stdout.split()
    assert out, f"Job {job} has no Pod yet"
    for pod in out:
        change = f"{FAKE_OUTCOME_ANNOTATION}=fail" if outcome == "fail" else f"{FAKE_OUTCOME_ANNOTATION}-"
        cluster.kubectl("annotate", "-n", namespace, pod, change, "--overwrite")


class ItemsServer:
    """Answers every GET with `document` (JSON) and keeps each request's headers."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.headers.append(dict(self.headers.items()))
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)


@contextmanager
def items_server(document: Any) -> Iterator[ItemsServer]:
    server = ItemsServer(document)
    server._thread.start()
    try:
        yield server
    finally:
        server._http.shutdown()
        server._http.server_close()

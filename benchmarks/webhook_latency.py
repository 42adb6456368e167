"""Webhook -> Job latency and throughput, side by side with a bare async client creating the same Jobs.

Latency = from sending the request to receiving the 202 (the Job already exists in the API server). The floor is
a plain kubernetes_asyncio client POSTing the same Job to the same API server: `bare` as the benchmark's own
(admin) identity, `bare-as` as the identity the operator creates Jobs as (it impersonates the namespace's
runner ServiceAccount, which costs the API server an authorization step of its own). Jobs are created suspended
(no Pods), so every row measures exactly the event -> Job path.

    .venv/bin/python -m benchmarks.webhook_latency --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import Process, cluster_kubeconfig, create_namespace, percentile
from jobwire.dev import runner
from jobwire.kube.api import Kube, jobs_path, jobwire_path
from jobwire.kube.client import make_api_client
from jobwire.kube.errors import AlreadyExists

NAMESPACE = "bench-webhooks"
RUNNER_USER = f"system:serviceaccount:{NAMESPACE}:{runner.RUNNER}"
"""Who the operator creates Jobs as (impersonation, docs/concepts/events.md); "bare-as" creates them so too."""
SECRET = b"bench-secret"
JOB_SPEC: dict[str, Any] = {
    "suspend": True,
    "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}},
}


async def setup(kube: Kube) -> None:
    await create_namespace(kube, NAMESPACE)
    with contextlib.suppress(AlreadyExists):
        await kube.create(
            f"/api/v1/namespaces/{NAMESPACE}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "hook"},
                "stringData": {"secret": SECRET.decode()},
            },
        )
    with contextlib.suppress(AlreadyExists):
        await kube.create(
            jobwire_path("webhooks", NAMESPACE),
            {
                "apiVersion": "jobwire.io/v1alpha1",
                "kind": "Webhook",
                "metadata": {"name": "bench"},
                "spec": {
                    "auth": {
                        "type": "hmac",
                        "hmac": {"preset": "github", "secretRef": {"name": "hook", "key": "secret"}},
                    },
                    "successfulJobsHistoryLimit": 1000,
                    "jobTemplate": {"spec": JOB_SPEC},
                },
            },
        )


async def webhook_url(kube: Kube, base: str) -> str:
    for _ in range(600):
        status = (await kube.get(jobwire_path("webhooks", NAMESPACE, "bench"))).get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        if ready and status.get("url"):
            return base + str(status["url"])
        await asyncio.sleep(0.1)
    raise RuntimeError("the bench Webhook did not become Ready")


async def measure(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, count / (time.perf_counter() - began)


async def main_async(requests: int, kubeconfig: Path) -> None:
    os.environ["KUBECONFIG"] = str(kubeconfig)
    api = await make_api_client()
    kube = Kube(api)
    await setup(kube)
    port = 18081
    log = Path(tempfile.mkdtemp()) / "operator.log"
    operator = Process.operator(kubeconfig, NAMESPACE, log, "--webhook-port", str(port))
    url = await webhook_url(kube, f"http://127.0.0.1:{port}")
    run = f"{int(time.time())}"
    # Both sides use aiohttp clients (kubernetes_asyncio is aiohttp underneath), so that neither pays for a
    # slower client library in this process.
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=60)
    ) as http:

        async def send(i: int, tag: str) -> None:
            body = json.dumps({"ref": "refs/heads/main", "n": i}).encode()
            signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            async with http.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Delivery": f"{run}-{tag}-{i}",
                    "X-Hub-Signature-256": signature,
                },
            ) as response:
                answer = await response.text()
            if response.status != 202:
                raise RuntimeError(f"webhook answered {response.status}: {answer}")

        async def bare(i: int, tag: str, as_user: str | None = None) -> None:
            await kube.create(
                jobs_path(NAMESPACE),
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": f"bare-{run}-{tag}{'-as' if as_user else ''}-{i}"},
                    "spec": JOB_SPEC,
                },
                as_user=as_user,
            )

        async def bare_as_runner(i: int, tag: str) -> None:
            """The same Jobs as the same identity the operator creates them as (impersonating the runner)."""
            await bare(i, tag, as_user=RUNNER_USER)

        await measure(50, 8, lambda i: send(i, "warm"))
        await measure(50, 8, lambda i: bare(i, "warm"))
        print(f"{requests} requests per row; webhook = HMAC-signed GitHub-style POST -> 202 (Job exists)")
        print(f"{'':10} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7}")
        results: dict[tuple[str, int], tuple[float, float, float]] = {}
        for concurrency in (1, 32):
            for name, call in (("webhook", send), ("bare", bare), ("bare-as", bare_as_runner)):
                latencies, rate = await measure(requests, concurrency, lambda i, c=call, k=concurrency: c(i, f"c{k}"))  # type: ignore[misc]
                p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
                results[(name, concurrency)] = (p50, p99, rate)
                print(f"{name:10} {concurrency:>4} {p50:>8.1f} {p99:>8.1f} {rate:>7.0f}", flush=True)
        for concurrency in (1, 32):
            for floor in ("bare", "bare-as"):
                w, b = results[("webhook", concurrency)], results[(floor, concurrency)]
                print(
                    f"concurrency {concurrency} against {floor}: p50 ratio {w[0] / b[0]:.2f}x (goal <= 1.5x), "
                    f"throughput {w[2] / b[2] * 100:.0f}% (goal >= 60%)"
                )
    cpu, rss = operator.cpu_seconds(), operator.peak_rss_mib()
    operator.stop()
    print(f"operator cpu={cpu:.1f}s peak RSS={rss:.0f} MiB")
    await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with cluster_kubeconfig() as kubeconfig:
        asyncio.run(main_async(args.requests, kubeconfig))


if __name__ == "__main__":
    main()

"""Sensor engine at scale: N http Sensors at a 5 s interval against one local HTTP server.

Tick lateness = the gap between two polls of the same Sensor, minus the interval (the engine schedules each poll
one interval after the previous one started, so lateness never accumulates). The same server's capacity is
measured by a bare async client in the same run, so the figures can be read against it.

    .venv/bin/python -m benchmarks.sensor_polls --sensors 2000 --minutes 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

from benchmarks.common import Process, cluster_kubeconfig, create_namespace, summary
from jobwire.kube.api import Kube, jobwire_path
from jobwire.kube.client import make_api_client
from jobwire.kube.errors import AlreadyExists

NAMESPACE = "bench-sensors"
INTERVAL = 5.0


def run_server(port: int) -> None:
    """The polled server, in a process of its own: answers {"items": []} and remembers when each Sensor came."""
    arrivals: dict[str, list[float]] = defaultdict(list)
    body = b'{"items": []}'

    async def items(request: web.Request) -> web.Response:
        arrivals[request.query.get("s", "bare")].append(time.time())
        return web.Response(body=body, content_type="application/json")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(arrivals)

    app = web.Application()
    app.router.add_get("/items", items)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.sensor_polls", "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{url}/stats", timeout=1)
            return process, url
        time.sleep(0.1)
    raise RuntimeError("the polled server did not start")


async def bare_capacity(url: str, seconds: float = 10.0) -> float:
    """Requests per second the server answers to a plain aiohttp client (32 at a time)."""
    done = 0
    until = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < until:
                async with client.get(f"{url}/items?s=bare") as response:
                    await response.read()
                done += 1

        await asyncio.gather(*(worker() for _ in range(32)))
    return done / seconds


async def main_async(count: int, minutes: float, kubeconfig: Path) -> None:
    os.environ["KUBECONFIG"] = str(kubeconfig)
    api = await make_api_client()
    kube = Kube(api)
    server, url = serve()
    await create_namespace(kube, NAMESPACE)
    semaphore = asyncio.Semaphore(32)

    async def create(i: int) -> None:
        body = {
            "apiVersion": "jobwire.io/v1alpha1",
            "kind": "Sensor",
            "metadata": {"name": f"s{i}"},
            "spec": {
                "interval": "5s",
                "source": {"http": {"url": f"{url}/items?s=s{i}", "items": "response.items", "key": "item.id"}},
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox"}]}
                        }
                    }
                },
            },
        }
        async with semaphore:
            with contextlib.suppress(AlreadyExists):
                await kube.create(jobwire_path("sensors", NAMESPACE), body)

    await asyncio.gather(*(create(i) for i in range(count)))
    oplog = Path(tempfile.mkdtemp()) / "operator.log"
    operator = Process.operator(kubeconfig, NAMESPACE, oplog)
    warmup = 2 * INTERVAL + 20
    print(f"{count} Sensors at {INTERVAL:.0f}s; warming up {warmup:.0f}s, then measuring {minutes} min", flush=True)
    await asyncio.sleep(warmup)
    cpu_before = operator.cpu_seconds()
    start = time.time()
    await asyncio.sleep(minutes * 60)
    end = time.time()
    cpu = operator.cpu_seconds() - cpu_before
    rss = operator.peak_rss_mib()
    operator.stop()
    async with httpx.AsyncClient(timeout=60) as client:
        arrivals: dict[str, list[float]] = (await client.get(f"{url}/stats")).json()
    lateness: list[float] = []
    polls = 0
    for name, times in arrivals.items():
        if name == "bare":
            continue
        window = [t for t in times if start <= t <= end]
        polls += len(window)
        lateness += [b - a - INTERVAL for a, b in itertools.pairwise(window)]
    capacity = await bare_capacity(url)
    print(f"polls      {polls} in {end - start:.0f}s = {polls / (end - start):.0f}/s (ideal {count / INTERVAL:.0f}/s)")
    print(f"lateness   {summary(lateness)}")
    print(f"server     a bare client gets {capacity:.0f} requests/s from the same server")
    print(
        f"operator   cpu={cpu:.1f}s over {end - start:.0f}s ({cpu / (end - start) * 100:.0f}% of one core), "
        f"peak RSS={rss:.0f} MiB"
    )
    server.terminate()
    server.wait()
    await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve)
        return
    with cluster_kubeconfig() as kubeconfig:
        asyncio.run(main_async(args.sensors, args.minutes, kubeconfig))


if __name__ == "__main__":
    main()

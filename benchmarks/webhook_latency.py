"""Webhook -> Job latency and throughput, side by side with a bare async client creating the same Jobs.

Latency = from sending the request to receiving the 202 (the Job already exists in the API server). The floor,
`bare`, is a plain async client POSTing the same Jobs directly to the same API server, as the same identity: each
is the Job the webhook created for a warm-up request (its server-set fields removed) under a new name and event
id, created as the namespace's runner ServiceAccount, which the operator impersonates. Two rows show what the
Job's content and the identity cost: `bare-min` POSTs a minimal Job (no labels, annotations, env or owner) as the
runner, and `bare-admin` the same minimal Job as the benchmark's own (admin) identity. Jobs are created suspended
(no Pods), so every row measures exactly the event -> Job path. Each row's requests are sent in `--rounds` parts,
the rows taking turns (webhook, bare, bare-min, bare-admin, minimal, then the other way round), so that a machine whose
speed drifts during the run (a shared one does, by a third within minutes) slows every row alike. `minimal` sends
the webhook's requests to `benchmarks/minimal_receiver.py` instead, a receiver that does the least any receiver in
this stack does (HMAC, the floor's Job, the POST, the answer): it parts what one more HTTP hop through aiohttp and
a Python process costs on this machine (minimal over bare) from what the operator does besides (webhook over
minimal). With `--placement split` the local control plane runs on one CPU alone and the operator and the clients
on the others, as in a cluster, where the operator does not compete with the API server for its cores.

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
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import Process, cluster_kubeconfig, cpu_by_process, cpu_spent, create_namespace, percentile
from jobwire.dev import runner
from jobwire.dev.cluster import controlplane_bin
from jobwire.dev.reposted import as_posted
from jobwire.kube.api import Kube, jobs_path, jobwire_path
from jobwire.kube.client import make_api_client
from jobwire.kube.errors import AlreadyExists

NAMESPACE = "bench-webhooks"
RUNNER_USER = f"system:serviceaccount:{NAMESPACE}:{runner.RUNNER}"
"""Who the operator creates Jobs as (impersonation, docs/concepts/events.md); "bare" and "bare-min" do so too."""
SECRET = b"bench-secret"
MINIMAL_PORT = 18082
CONCURRENCIES = (1, 32)
SETTLE_SECONDS = 1.0
WARM_UP = 50
PLACEMENTS = ("shared", "split")
"""Where the local control plane runs (`--placement`): on every CPU, or on the first this process may use alone."""
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


async def webhook_url(kube: Kube, base: str, operator: Process) -> str:
    for _ in range(600):
        operator.check()
        status = (await kube.get(jobwire_path("webhooks", NAMESPACE, "bench"))).get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        if ready and status.get("url"):
            return base + str(status["url"])
        await asyncio.sleep(0.1)
    raise RuntimeError("the bench Webhook did not become Ready")


async def receiving(
    http: aiohttp.ClientSession, url: str, check: Callable[[], None], what: str = "the operator's receiver"
) -> float:
    """Seconds until a receiver (`what`) takes requests at `url`: an unsigned POST answers 401 (before that: no
    connection, or 503 while the operator starts — on a cluster kept from earlier runs it lists their Jobs first,
    and the Webhook is Ready before this operator has started). Nothing is created. `check` raises if the
    receiver's process has exited."""
    began = time.perf_counter()
    for _ in range(1200):
        check()
        with contextlib.suppress(aiohttp.ClientConnectionError):
            async with http.post(url, data=b"{}", headers={"Content-Type": "application/json"}) as response:
                if response.status == 401:
                    return time.perf_counter() - began
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} did not take requests at {url}")


def start_minimal_receiver(job: dict[str, Any], workdir: Path) -> subprocess.Popen[bytes]:
    """benchmarks/minimal_receiver.py in a process of its own, creating `job` under each delivery's name."""
    (workdir / "job.json").write_text(json.dumps(job))
    (workdir / "secret").write_bytes(SECRET)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.minimal_receiver",
            *("--job", str(workdir / "job.json"), "--port", str(MINIMAL_PORT), "--namespace", NAMESPACE),
            *("--as-user", RUNNER_USER, "--secret-file", str(workdir / "secret")),
        ],
        stdout=(workdir / "minimal.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


@contextlib.asynccontextmanager
async def minimal_receiver(
    http: aiohttp.ClientSession, job: dict[str, Any], workdir: Path
) -> AsyncIterator[tuple[str, int]]:
    """The minimal receiver, once it takes requests: its URL and process id."""
    process = start_minimal_receiver(job, workdir)
    url = f"http://127.0.0.1:{MINIMAL_PORT}/hooks/bench"

    def check() -> None:
        if process.poll() is not None:
            raise RuntimeError(f"the minimal receiver exited; its log: {workdir / 'minimal.log'}")

    try:
        await receiving(http, url, check, "the minimal receiver")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(30)


async def tracked_after(kube: Kube, jobs: int, limit: float = 120.0) -> float:
    """Seconds until the bench Webhook's status counts `jobs` running Jobs (the tracker has recorded every Job
    made so far: they are suspended, so none finishes); `limit` if it never does."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit:
        status = (await kube.get(jobwire_path("webhooks", NAMESPACE, "bench"))).get("status") or {}
        if int(status.get("activeCount") or 0) >= jobs:
            return time.perf_counter() - began
        await asyncio.sleep(0.05)
    return limit


async def same_jobs(kube: Kube, run: str, tag: str, count: int) -> list[dict[str, Any]]:
    """`count` copies of a Job the webhook created, as a client would POST it: without what the API server sets
    (uid, versions, status, the selector and its labels), each under its own name and event id, and labelled so
    that the operator does not take it for one of its own."""
    listed = await kube.get(jobs_path(NAMESPACE), {"labelSelector": "jobwire.io/kind=Webhook", "limit": "1"})
    job = as_posted(listed["items"][0])
    metadata = job["metadata"]
    name, event_id = metadata["name"], metadata["annotations"]["jobwire.io/event-id"]
    # Jobwire's labels under another prefix (the same bytes, near enough): the operator would otherwise take these
    # Jobs for its own and track them, work the floor must not put on the machine.
    text = json.dumps(job).replace('"jobwire.io/kind"', '"floor.jobwire.io/kind"')
    text = text.replace('"jobwire.io/name"', '"floor.jobwire.io/name"')
    return [
        json.loads(text.replace(event_id, f"{run}-{tag}-{i}").replace(name, f"bare-{run}-{tag}-{i}"))
        for i in range(count)
    ]


RequestCounts = dict[tuple[str, str], float]


def api_requests(kubeconfig: Path) -> RequestCounts:
    """The API server's count of the requests it has served, by verb and resource (its /metrics)."""
    text = subprocess.run(
        [str(controlplane_bin() / "kubectl"), "--kubeconfig", str(kubeconfig), "get", "--raw", "/metrics"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    counts: RequestCounts = {}
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            resource = labels.get("resource", "") + ("/" + labels["subresource"] if labels.get("subresource") else "")
            key = (labels.get("verb", ""), resource)
            counts[key] = counts.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def requests_between(before: RequestCounts, after: RequestCounts) -> RequestCounts:
    """What the API server served in between (the watches' long requests are counted when they end)."""
    return {key: n - before.get(key, 0.0) for key, n in after.items() if n - before.get(key, 0.0) >= 1}


def served_text(served: RequestCounts) -> str:
    return ", ".join(
        f"{verb} {resource} {n:.0f}" for (verb, resource), n in sorted(served.items(), key=lambda i: -i[1])
    )


def added(total: dict[Any, float], more: dict[Any, float]) -> None:
    for key, value in more.items():
        total[key] = total.get(key, 0.0) + value


def print_cpu(spent: dict[tuple[str, int], dict[str, float]], title: str) -> None:
    """The machine's CPU per request by program, for each row: where the requests' cost lands."""
    shown = ("kube-apiserver", "etcd", "kube-controller", "operator", "minimal", "benchmark")
    print(f"CPU ms per request (all processes), {title}")
    print(f"{'':10} {'conc':>4} " + " ".join(f"{program[:14]:>14}" for program in (*shown, "other", "total")))
    for (name, concurrency), by_program in spent.items():
        other = sum(ms for program, ms in by_program.items() if program not in shown)
        cells = [by_program.get(program, 0.0) for program in shown] + [other, sum(by_program.values())]
        print(f"{name:10} {concurrency:>4} " + " ".join(f"{ms:>14.2f}" for ms in cells))
    others: dict[str, float] = {}
    for by_program in spent.values():
        for program, ms in by_program.items():
            if program not in shown:
                others[program] = others.get(program, 0.0) + ms / len(spent)
    print(
        "other, on average over the rows: "
        + ", ".join(f"{p} {ms:.2f}" for p, ms in sorted(others.items(), key=lambda item: -item[1])[:4])
    )


def rounded(values: list[float], scale: float = 1.0) -> str:
    return ", ".join(f"{value * scale:.2f}" for value in values)


async def measure(indices: range, concurrency: int, one: Callable[[int], Awaitable[None]]) -> tuple[list[float], float]:
    """The latency of each call, and the seconds all of them took, `concurrency` at a time."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in indices:
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - began


async def main_async(requests: int, rounds: int, kubeconfig: Path) -> None:
    os.environ["KUBECONFIG"] = str(kubeconfig)
    api = await make_api_client()
    kube = Kube(api)
    await setup(kube)
    port = 18081
    log = Path(tempfile.mkdtemp()) / "operator.log"
    operator = Process.operator(kubeconfig, NAMESPACE, log, "--webhook-port", str(port))
    url = await webhook_url(kube, f"http://127.0.0.1:{port}", operator)
    run = f"{int(time.time())}"
    # Both sides use aiohttp clients (kubernetes_asyncio is aiohttp underneath), so that neither pays for a
    # slower client library in this process.
    async with (
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=60)
        ) as http,
        contextlib.AsyncExitStack() as stack,
    ):

        async def send(i: int, tag: str, to: str = url) -> None:
            body = json.dumps({"ref": "refs/heads/main", "n": i}).encode()
            signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            async with http.post(
                to,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Delivery": f"{run}-{tag}-{i}",
                    "X-Hub-Signature-256": signature,
                },
            ) as response:
                answer = await response.text()
            if response.status != 202:
                raise RuntimeError(f"{to} answered {response.status}: {answer}")

        async def bare_min(i: int, tag: str, as_user: str | None = RUNNER_USER) -> None:
            await kube.create(
                jobs_path(NAMESPACE),
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": f"min-{run}-{tag}{'-as' if as_user else ''}-{i}"},
                    "spec": JOB_SPEC,
                },
                as_user=as_user,
            )

        async def bare_admin(i: int, tag: str) -> None:
            await bare_min(i, tag, as_user=None)

        ready = await receiving(http, url, operator.check)
        print(f"the operator took requests {ready:.1f} s after the Webhook was Ready")
        await measure(range(WARM_UP), 8, lambda i: send(i, "warm"))
        await measure(range(50), 8, lambda i: bare_admin(i, "warm"))
        same = {f"c{k}": await same_jobs(kube, run, f"c{k}", requests) for k in CONCURRENCIES}
        minimal_url, minimal_pid = await stack.enter_async_context(minimal_receiver(http, same["c1"][0], log.parent))

        async def minimal(i: int, tag: str) -> None:
            await send(i, f"{tag}-minimal", to=minimal_url)

        await measure(range(WARM_UP), 8, lambda i: minimal(i, "warm"))

        async def bare(i: int, tag: str) -> None:
            """The same Job as the webhook's, by the same identity (the operator impersonates the runner)."""
            await kube.create(jobs_path(NAMESPACE), same[tag][i], as_user=RUNNER_USER)

        print(
            f"{requests} requests per row, in {rounds} rounds that take turns (the order reversed every other round); "
            "webhook = HMAC-signed GitHub-style POST -> 202 (Job exists)"
        )
        print(f"{'':10} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7}")
        results: dict[tuple[str, int], tuple[float, float, float]] = {}
        rows: tuple[tuple[str, Callable[[int, str], Awaitable[None]]], ...] = (
            ("webhook", send),
            ("bare", bare),
            ("bare-min", bare_min),
            ("bare-admin", bare_admin),
            ("minimal", minimal),
        )
        programs = {operator.popen.pid: "operator", minimal_pid: "minimal", os.getpid(): "benchmark"}
        spent: dict[tuple[str, int], dict[str, float]] = {}
        """CPU while the requests were sent: all the machine did meanwhile, the Job controller's backlog of earlier
        rounds' Jobs included (it is held to its client's QPS), which a slower row carries more of."""
        settled: dict[tuple[str, int], dict[str, float]] = {}
        """The same with the settling time after each round: what the requests set going that outlives them."""
        served_in_row: dict[tuple[str, int], RequestCounts] = {}
        made = WARM_UP
        lags: dict[int, float] = {}
        bounds = [requests * r // rounds for r in range(rounds + 1)]
        for concurrency in CONCURRENCIES:
            latencies: dict[str, list[float]] = {name: [] for name, _ in rows}
            seconds: dict[str, float] = dict.fromkeys(latencies, 0.0)
            p50_by_round: dict[str, list[float]] = {name: [] for name, _ in rows}
            for turn in range(rounds):
                for name, call in rows if turn % 2 == 0 else rows[::-1]:
                    key = (name, concurrency)
                    served = api_requests(kubeconfig)
                    before = cpu_by_process(programs)
                    taken, elapsed = await measure(
                        range(bounds[turn], bounds[turn + 1]),
                        concurrency,
                        lambda i, c=call, k=concurrency: c(i, f"c{k}"),  # type: ignore[misc]
                    )
                    sent = cpu_by_process(programs)
                    if name == "webhook":
                        made += len(taken)
                        lag = await tracked_after(kube, made)
                        lags[concurrency] = max(lags.get(concurrency, 0.0), lag)  # the slowest round's
                    await asyncio.sleep(SETTLE_SECONDS)  # what the round set going (status writes, the Job controller)
                    after = cpu_by_process(programs)
                    added(served_in_row.setdefault(key, {}), requests_between(served, api_requests(kubeconfig)))
                    for total, end in ((spent, sent), (settled, after)):
                        by_program = {p: sec * 1000 / requests for p, sec in cpu_spent(before, end).items()}
                        added(total.setdefault(key, {}), by_program)
                    latencies[name] += taken
                    seconds[name] += elapsed
                    p50_by_round[name].append(percentile(taken, 50))
            for name, _ in rows:
                p50, p99 = percentile(latencies[name], 50) * 1000, percentile(latencies[name], 99) * 1000
                results[(name, concurrency)] = (p50, p99, requests / seconds[name])
                print(
                    f"{name:10} {concurrency:>4} {p50:>8.1f} {p99:>8.1f} {requests / seconds[name]:>7.0f}", flush=True
                )
            for name in ("webhook", "bare", "minimal"):
                print(f"{'':10} {concurrency:>4} {name} p50 ms in each round: " + rounded(p50_by_round[name], 1000))
            by_round = [w / b for w, b in zip(p50_by_round["webhook"], p50_by_round["bare"], strict=True)]
            print(f"{'':10} {concurrency:>4} webhook/bare p50 in each round: " + rounded(by_round))
        print_cpu(spent, "while the requests were sent")
        print_cpu(
            settled,
            f"{SETTLE_SECONDS:.0f} s after each round included (a webhook round: until its Jobs are in the status)",
        )
        print(f"API server requests in each row ({SETTLE_SECONDS:.0f} s after each round included):")
        for (name, concurrency), counts in served_in_row.items():
            print(f"  {name:10} {concurrency:>4} {served_text(counts)}")
        for concurrency, lag in lags.items():
            print(f"concurrency {concurrency}: every webhook Job in the Webhook's status {lag:.2f} s after its round")
        for concurrency in CONCURRENCIES:
            for row, floor in (
                ("webhook", "bare"),
                ("webhook", "bare-min"),
                ("minimal", "bare"),
                ("webhook", "minimal"),
            ):
                w, b = results[(row, concurrency)], results[(floor, concurrency)]
                goal = " (goal <= 1.5x)" if (row, floor) == ("webhook", "bare") else ""
                print(
                    f"concurrency {concurrency}, {row} against {floor}: p50 ratio {w[0] / b[0]:.2f}x{goal}, "
                    f"throughput {w[2] / b[2] * 100:.0f}%{' (goal >= 60%)' if goal else ''}"
                )
    cpu, rss = operator.cpu_seconds(), operator.peak_rss_mib()
    operator.stop()
    print(f"operator cpu={cpu:.1f}s peak RSS={rss:.0f} MiB")
    await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="each row's requests in this many parts, the rows taking turns: a machine whose speed drifts during "
        "the run slows every row alike",
    )
    parser.add_argument(
        "--placement",
        choices=PLACEMENTS,
        default="shared",
        help="shared: every process on every CPU; split: the local control plane on the first CPU, the operator and "
        "this benchmark's clients on the others, as in a cluster, where the operator does not run on the API server's "
        "cores",
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= args.requests:
        parser.error(f"--rounds must be between 1 and --requests ({args.requests}), not {args.rounds}")
    cpus = sorted(os.sched_getaffinity(0))
    if args.placement == "split" and (os.environ.get("BENCH_KUBECONFIG") or len(cpus) < 2):
        parser.error("--placement split needs the local control plane (no $BENCH_KUBECONFIG) and two CPUs or more")
    with cluster_kubeconfig({cpus[0]} if args.placement == "split" else None) as kubeconfig:
        print(f"placement {args.placement}: this benchmark and the operator on CPUs {sorted(os.sched_getaffinity(0))}")
        asyncio.run(main_async(args.requests, args.rounds, kubeconfig))


if __name__ == "__main__":
    main()

"""Schedule lateness: N Jobwire Schedules and N CronJobs, the same `* * * * *`, on the same control plane.

Lateness = the moment a watcher sees the Job minus its scheduled instant. Both kinds run side by side in the
same run, so the noisy machine treats them alike.

    .venv/bin/python -m benchmarks.schedule_lateness --count 300 --minutes 3
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch

from benchmarks.common import Process, cluster_kubeconfig, create_namespace, summary
from jobwire.kube.api import Kube, jobs_path, jobwire_path
from jobwire.kube.client import make_api_client

NAMESPACE = "bench-schedules"
CRONJOB_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"

TEMPLATE: dict[str, Any] = {
    "spec": {
        "backoffLimit": 0,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
            }
        },
    }
}


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def create_all(kube: Kube, count: int) -> None:
    await create_namespace(kube, NAMESPACE)
    bodies = []
    for i in range(count):
        bodies.append(
            (
                jobwire_path("schedules", NAMESPACE),
                {
                    "apiVersion": "jobwire.io/v1alpha1",
                    "kind": "Schedule",
                    "metadata": {"name": f"s{i}"},
                    "spec": {"cron": "* * * * *", "jobTemplate": TEMPLATE},
                },
            )
        )
        bodies.append(
            (
                f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs",
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "metadata": {"name": f"c{i}"},
                    "spec": {"schedule": "* * * * *", "jobTemplate": TEMPLATE},
                },
            )
        )
    semaphore = asyncio.Semaphore(32)

    async def one(path: str, body: dict[str, Any]) -> None:
        async with semaphore:
            await kube.create(path, body)

    await asyncio.gather(*(one(p, b) for p, b in bodies))


async def watch_jobs(kube: Kube, until: float, seen: dict[str, tuple[str, float]]) -> None:
    """Record, per Job, which system made it and its lateness when first seen."""
    batch = client.BatchV1Api(kube.api)
    while (left := until - time.time()) > 1:
        stream = watch.Watch()
        async with stream:
            async for event in stream.stream(batch.list_namespaced_job, namespace=NAMESPACE, timeout_seconds=int(left)):
                now = time.time()
                meta = event["object"].metadata
                if meta.name in seen:
                    continue
                annotations = meta.annotations or {}
                if "jobwire.io/scheduled-time" in annotations:
                    seen[meta.name] = ("jobwire", now - parse(annotations["jobwire.io/scheduled-time"]).timestamp())
                elif CRONJOB_ANNOTATION in annotations:
                    seen[meta.name] = ("cronjob", now - parse(annotations[CRONJOB_ANNOTATION]).timestamp())


async def bare_client(kube: Kube, count: int, start: int, minutes: int) -> list[float]:
    """The floor: at each minute, a plain client creates `count` Jobs (32 at a time) straight away."""
    lateness: list[float] = []
    semaphore = asyncio.Semaphore(32)
    for minute in range(minutes):
        instant = start + minute * 60
        await asyncio.sleep(max(0.0, instant - time.time()))

        async def one(i: int, at: int = instant) -> None:
            body = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": f"bare-{at}-{i}", "annotations": {"bench/scheduled": str(at)}},
                "spec": TEMPLATE["spec"],
            }
            async with semaphore:
                await kube.create(jobs_path(NAMESPACE), body)
            lateness.append(time.time() - at)

        await asyncio.gather(*(one(i) for i in range(count)))
    return lateness


async def main_async(count: int, minutes: int, kubeconfig: Path, floor: bool) -> None:
    import os

    os.environ["KUBECONFIG"] = str(kubeconfig)
    api = await make_api_client()
    kube = Kube(api)
    await create_all(kube, count)
    log = Path(tempfile.mkdtemp()) / "operator.log"
    operator = Process.operator(kubeconfig, NAMESPACE, log)
    # Measure whole minutes: start at the next minute boundary, stop just before the one after the last.
    start = (int(time.time()) // 60 + 1) * 60
    until = start + minutes * 60 + 20
    seen: dict[str, tuple[str, float]] = {}
    print(
        f"{count} Schedules + {count} CronJobs created; measuring {minutes} minute(s) from "
        f"{datetime.fromtimestamp(start, UTC):%H:%M:%S}Z",
        flush=True,
    )
    floor_task = asyncio.create_task(bare_client(kube, count, start, minutes)) if floor else None
    await watch_jobs(kube, until, seen)
    bare = await floor_task if floor_task else []
    cpu, rss = operator.cpu_seconds(), operator.peak_rss_mib()
    operator.stop()
    jobwire = [late for system, late in seen.values() if system == "jobwire" and late > -1]
    cron = [late for system, late in seen.values() if system == "cronjob" and late > -1]
    print(f"jobwire  {summary(jobwire)}")
    print(f"cronjob  {summary(cron)}")
    if floor:
        print(f"bare     {summary(bare)}   (a plain client creating the same number of Jobs at each minute)")
    print(
        f"operator cpu={cpu:.1f}s over {minutes} min ({cpu / (minutes * 60) * 100:.0f}% of one core), "
        f"peak RSS={rss:.0f} MiB"
    )
    await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--floor", action="store_true", help="also measure a plain client creating as many Jobs")
    args = parser.parse_args()
    with cluster_kubeconfig() as kubeconfig:
        asyncio.run(main_async(args.count, args.minutes, kubeconfig, args.floor))


if __name__ == "__main__":
    main()

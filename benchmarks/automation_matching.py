"""Automations at scale: 10,000 Automations in the cluster, 1,000 events a second for a minute.

The operator runs in this process (it must: no HTTP path into it takes 1,000 events/s on these machines, so the
events go straight to its bus, as a producer's would). Each Automation listens for its own event type; 1 in 100
fires on every event (threshold 1, an `emit` action), the others count towards a threshold they never reach.

Figures:
  decide     event in -> every matching trigger has counted it (the producer waits this long), all events
  dispatch   event in -> the first action of its firing starts (write-ahead to status first), firing events
  index      candidates handed to each event by the index, and the time to find matches with the index vs a scan of
             all Automations, on the same events in the same run
  cpu, rss   of this process (operator + the event publisher), over the measured minute

    .venv/bin/python -m benchmarks.automation_matching --automations 10000 --rate 1000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import cluster_kubeconfig, create_namespace, percentile, summary
from jobwire.automations.matching import EventFacts
from jobwire.events.model import Event, ProducerRef
from jobwire.handlers.context import Context
from jobwire.handlers.operator import run_operator
from jobwire.kube.api import Kube, jobwire_path
from jobwire.kube.client import make_api_client
from jobwire.kube.errors import AlreadyExists
from jobwire.settings import HttpSettings, LogSettings, Settings, WatchSettings

NAMESPACE = "bench-automations"
FIRING_EVERY = 100
DONE = "bench.done"


def automation(i: int) -> dict[str, object]:
    fires = i % FIRING_EVERY == 0
    trigger: dict[str, object] = {"match": {"type": [f"bench.t{i}"]}}
    if not fires:
        trigger |= {"threshold": 1000, "within": "1m"}
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Automation",
        "metadata": {"name": f"a{i}"},
        "spec": {"trigger": trigger, "actions": [{"emit": {"type": DONE}}]},
    }


async def create_all(kube: Kube, count: int) -> None:
    await create_namespace(kube, NAMESPACE)
    semaphore = asyncio.Semaphore(32)

    async def create(i: int) -> None:
        async with semaphore:
            with contextlib.suppress(AlreadyExists):
                await kube.create(jobwire_path("automations", NAMESPACE), automation(i))

    await asyncio.gather(*(create(i) for i in range(count)))


async def main_async(count: int, rate: int, seconds: float, kubeconfig: Path) -> None:
    os.environ["KUBECONFIG"] = str(kubeconfig)
    api = await make_api_client()
    began = time.perf_counter()
    await create_all(Kube(api), count)
    await api.close()
    print(f"{count} Automations created in {time.perf_counter() - began:.0f}s", flush=True)

    holder: list[Context] = []
    built = asyncio.Event()
    stop = asyncio.Event()

    def keep(context: Context) -> None:
        holder.append(context)
        built.set()

    settings = Settings(
        watch=WatchSettings(namespaces=(NAMESPACE,)),
        http=HttpSettings(host="127.0.0.1", probe_port=0, webhook_port=0),
        log=LogSettings(level="WARNING"),
    )
    operator = asyncio.create_task(run_operator(settings, stop=stop, on_context=keep))
    await built.wait()
    context = holder[0]
    began = time.perf_counter()
    for _ in range(7200):  # an hour at most
        if len(context.automations) >= count:
            break
        await asyncio.sleep(0.5)
    print(f"{count} Automations loaded in {time.perf_counter() - began:.0f}s", flush=True)
    await asyncio.sleep(10)  # let the Ready writes of the start settle

    sent_at: dict[str, float] = {}
    dispatch: list[float] = []

    async def on_done(event: Event, _: ProducerRef | None) -> None:
        if event.type == DONE and isinstance(event.data, dict):
            first = (event.data.get("eventIds") or [None])[0]
            if first in sent_at:
                dispatch.append(time.perf_counter() - sent_at[first])

    context.bus.subscribe(on_done)
    producer = ProducerRef("Webhook", NAMESPACE, "bench-producer", "bench-uid")
    rng = random.Random(7)
    decide: list[float] = []
    sample: list[Event] = []
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    batch, tick = rate // 100, 0.01
    deadline = time.perf_counter() + seconds
    n = 0
    next_at = time.perf_counter()
    while time.perf_counter() < deadline:
        for _ in range(batch):
            i = rng.randrange(count)
            event = Event(id=f"e{n}", source=producer.source, type=f"bench.t{i}", time=datetime.now(UTC), data={"n": n})
            n += 1
            start = time.perf_counter()
            if i % FIRING_EVERY == 0:
                sent_at[event.id] = start
            await context.pipeline.publish(producer, event)
            decide.append(time.perf_counter() - start)
            if len(sample) < 1000:
                sample.append(event)
        next_at += tick
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    fired = len(sent_at)
    for _ in range(60):
        if len(dispatch) >= fired:
            break
        await asyncio.sleep(1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rules = context.automations.rules()
    candidates = [len(context.automations.candidates(e)) for e in sample]
    t0 = time.perf_counter()
    for e in sample:
        facts = EventFacts(e.type, e.source, e.subject, {})
        [r for r in context.automations.candidates(e) if r.matcher.matches(facts)]
    indexed = (time.perf_counter() - t0) / len(sample)
    t0 = time.perf_counter()
    for e in sample:
        facts = EventFacts(e.type, e.source, e.subject, {})
        [r for r in rules if r.matcher.matches(facts)]
    scanned = (time.perf_counter() - t0) / len(sample)

    print(
        f"events     {n} in {wall:.0f}s = {n / wall:.0f}/s (asked {rate}/s); {fired} fired, {len(dispatch)} dispatched"
    )
    print(
        f"decide     n={len(decide)} p50={percentile(decide, 50) * 1e3:.3f}ms p99={percentile(decide, 99) * 1e3:.3f}ms "
        f"max={max(decide, default=float('nan')) * 1e3:.1f}ms"
    )
    print(f"dispatch   {summary(dispatch)}")
    print(
        f"index      {sum(candidates) / len(candidates):.1f} candidates/event of {len(rules)}; "
        f"match with index {indexed * 1e6:.1f} us/event, scanning all {scanned * 1e6:.0f} us/event"
    )
    print(f"process    cpu={cpu:.1f}s over {wall:.0f}s ({cpu / wall * 100:.0f}% of one core), peak RSS={rss:.0f} MiB")
    stop.set()
    await operator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--automations", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1000, help="events per second (a multiple of 100)")
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with cluster_kubeconfig() as kubeconfig:
        asyncio.run(main_async(args.automations, args.rate, args.seconds, kubeconfig))


if __name__ == "__main__":
    main()

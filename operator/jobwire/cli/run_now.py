"""`jobwire run KIND/NAME`: ask the operator for one run now, and show what it did."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from jobwire.api.kinds import KINDS
from jobwire.kube.api import Kube, jobwire_path
from jobwire.kube.client import make_api_client
from jobwire.kube.errors import KubeError, NotFound

__all__ = ["run_now"]

ANNOTATION = "jobwire.io/run-requested-at"
RUNNABLE = {"schedule", "sensor"}


async def _request(kind: str, name: str, namespace: str, wait: float) -> int:
    info = next(k for k in KINDS if k.singular == kind)
    value = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    api = await make_api_client()
    kube = Kube(api)
    try:
        await kube.merge_patch(
            jobwire_path(info.plural, namespace, name), {"metadata": {"annotations": {ANNOTATION: value}}}
        )
        print(f"{kind}/{name}: run requested ({ANNOTATION}={value}); waiting for the operator", end="", flush=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while loop.time() < deadline:
            status = (await kube.get(jobwire_path(info.plural, namespace, name))).get("status") or {}
            if kind == "sensor" and status.get("runRequestedAt") == value:
                poll = status.get("lastPoll") or {}
                if poll.get("time", "") >= value[:19]:
                    print(
                        f"\npolled: {poll.get('outcome')}, {poll.get('items', 0)} new item(s)"
                        + (f" ({poll['reason']})" if poll.get("reason") else "")
                    )
                    return 0 if poll.get("outcome") != "Failed" else 1
            elif status.get("runRequestedAt") == value:
                last = status.get("lastRun") or {}
                skip = status.get("lastSkip") or {}
                print()
                if skip.get("eventId", "").startswith("run-") and skip.get("time", "") >= value[:19]:
                    print(f"skipped: {skip.get('reason')}: {skip.get('message')}")
                    return 1
                print(f"job/{last.get('job', '?')} created")
                return 0
            print(".", end="", flush=True)
            await asyncio.sleep(0.5)
        print(f"\njobwire: the operator has not acted within {wait:.0f}s (is it running?)", file=sys.stderr)
        return 1
    except NotFound:
        print(f"jobwire: {kind}/{name} not found in namespace {namespace}", file=sys.stderr)
        return 1
    except KubeError as exc:
        print(f"jobwire: {exc}", file=sys.stderr)
        return 1
    finally:
        await api.close()


def run_now(target: str, namespace: str, wait: float = 30.0) -> int:
    kind, _, name = target.partition("/")
    kind = kind.lower().removesuffix("s").removesuffix(".jobwire.io")
    if kind not in RUNNABLE or not name:
        print(f"jobwire: run takes schedule/NAME or sensor/NAME, not {target!r}", file=sys.stderr)
        return 2
    return asyncio.run(_request(kind, name, namespace, wait))

"""The least a webhook receiver written with the operator's stack does, for the `minimal` row of webhook_latency.

An aiohttp server in a process of its own, answering each POST as the operator's receiver does, and no more:

    read the body -> check the GitHub-style HMAC (constant time) -> the floor's Job under the name and event id the
    delivery header gives, the body in its env -> POST it through the same Kube client, as the same identity,
    asking for its metadata alone -> 202 {eventId, jobs, duplicate}

No Webhook lookup, rate limit, CloudEvents, filter, concurrency policy, duplicates, history, Job watch, status,
Kubernetes Events or metrics: whatever its row costs beyond `bare` is the cost of one more HTTP hop through
aiohttp and a Python process on this machine, which any receiver in this stack pays; what `webhook` costs beyond
it is what the operator does besides.

    python -m benchmarks.minimal_receiver --job JOB.json --port 18082 --namespace NS --as-user USER --secret-file F
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from jobwire.kube.api import Kube, jobs_path
from jobwire.kube.client import make_api_client

ROUTE = "/hooks/{token}"


def job_for(template: bytes, delivery: str, body: bytes) -> dict[str, Any]:
    """The floor's Job (as JSON) for one delivery: its own name, its event id, the event in the env."""
    job: dict[str, Any] = orjson.loads(template)
    metadata = job["metadata"]
    metadata["name"] = "minimal-" + hashlib.sha256(delivery.encode()).hexdigest()[:16]
    metadata["annotations"]["jobwire.io/event-id"] = delivery
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [
        {"name": "JOBWIRE_EVENT_ID", "value": delivery},
        {"name": "JOBWIRE_EVENT", "value": body.decode()},
    ]
    return job


def application(kube: Kube, template: bytes, namespace: str, as_user: str, secret: bytes) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Hub-Signature-256", ""), expected):
            return web.Response(status=401)
        delivery = request.headers.get("X-GitHub-Delivery", "")
        if not delivery:
            return web.Response(status=400)
        job = job_for(template, delivery, body)
        made = await kube.create(jobs_path(namespace), job, as_user=as_user, metadata_only=True)
        answer = {"eventId": delivery, "jobs": [made["metadata"]["name"]], "duplicate": False}
        return web.Response(status=202, body=orjson.dumps(answer), content_type="application/json")

    app = web.Application()
    app.router.add_route("POST", ROUTE, handle)
    return app


async def serve(job: bytes, port: int, namespace: str, as_user: str, secret: bytes) -> None:
    api = await make_api_client()
    runner = web.AppRunner(
        application(Kube(api), job, namespace, as_user, secret), access_log=None, handle_signals=False
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=Path, required=True, help="the floor's Job, as JSON")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--as-user", required=True, help="the identity the Jobs are created as (impersonation)")
    parser.add_argument("--secret-file", type=Path, required=True, help="the HMAC secret, read from this file")
    args = parser.parse_args()
    asyncio.run(serve(args.job.read_bytes(), args.port, args.namespace, args.as_user, args.secret_file.read_bytes()))


if __name__ == "__main__":
    main()

"""The webhook receiver: an aiohttp server inside the operator. A 2xx means the Jobs exist.

    path token -> Webhook (404; 503 until ready) -> method (405) -> ready (503) -> suspended (503) -> rate limit (429)
      -> body within maxBodyBytes, read in chunks (413) -> auth (401; 503 if its Secret is missing)
      -> event (400, 415) -> filter (202 filtered) -> pipeline -> 202 created | 200 duplicate | 409/422/503

It holds no state of its own: every replica answers any request, because the Webhooks come from the watch and the
Job name makes a delivery that two replicas (or two retries) handle create one Job. A replica that does not lead
forwards the event to the leader's Automations (and a Sensor nudge) through the Webhook's status before it
answers (webhooks/forwarding.py); when it cannot, it answers 503.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from jobwire.api.webhook import AuthType
from jobwire.controllers.webhooks import WebhookController, WebhookEntry
from jobwire.events.model import Event
from jobwire.jobs.pipeline import DispatchOutcome, Pipeline
from jobwire.kube.errors import KubeError
from jobwire.kube.secrets import MissingSecret
from jobwire.metrics import Metrics
from jobwire.timing.clock import Clock
from jobwire.webhooks.auth import verify
from jobwire.webhooks.errors import AuthFailure, IntakeError
from jobwire.webhooks.filtering import evaluate_filter, filter_context
from jobwire.webhooks.forwarding import ForwardRefused
from jobwire.webhooks.intake import build_event
from jobwire.webhooks.paths import PATH_PREFIX
from jobwire.webhooks.ratelimit import retry_after

__all__ = ["WebhookReceiver"]

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
RETRYABLE_SKIPS = {"Forbidden": 409, "MaxActive": 409, "Suspended": 503}
# The event can never make a Job as it is: retrying the same delivery cannot help.
UNPROCESSABLE_SKIPS = {"ParameterFailed", "EventTooLarge", "InvalidJobTemplate"}


def _reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    # orjson, not aiohttp's json.dumps: the answer is encoded on every request, in the operator's busiest path.
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json", charset="utf-8"
    )


class TooLarge(Exception):
    pass


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit`: never an unbounded buffer."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class WebhookReceiver:
    def __init__(
        self,
        *,
        controller: WebhookController,
        pipeline: Pipeline,
        metrics: Metrics,
        clock: Clock,
        is_ready: Callable[[], bool],
    ) -> None:
        self._controller = controller
        self._pipeline = pipeline
        self._metrics = metrics
        self._clock = clock
        self._is_ready = is_ready
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        # Bodies are read by read_limited with each Webhook's own limit; this cap only bounds aiohttp itself.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", PATH_PREFIX + "{token}", self.handle)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _unknown(self, _: web.Request) -> web.Response:
        response = _reply(404, {"error": "no webhook at this path"})
        self._metrics.webhook_responses.labels("404").inc()
        return response

    async def handle(self, request: web.Request) -> web.Response:
        """Every answer is counted by its code (jobwire_webhook_responses_total), the unknown path and the
        unexpected error included."""
        started = time.perf_counter()
        entry = self._controller.lookup(request.match_info["token"])
        try:
            if entry is None and not self._is_ready():
                # Not loaded yet, or no such Webhook: a 404 now could turn a sender away from a real path.
                response = _reply(
                    503, {"error": "the operator is starting; retry", "reason": "NotReady"}, {"Retry-After": "1"}
                )
            elif entry is None:
                response = _reply(404, {"error": "no webhook at this path"})
            else:
                response = await self._respond(request, entry)
        except Exception:
            log.exception("webhook request failed")
            response = _reply(503, {"error": "the operator could not handle the request; retry"}, {"Retry-After": "1"})
        finally:
            self._metrics.webhook_latency.observe(time.perf_counter() - started)
        self._metrics.webhook_responses.labels(str(response.status)).inc()
        return response

    def _reject(
        self, entry: WebhookEntry, status: int, reason: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        self._controller.count(entry, "rejected", reason=reason)
        return _reply(status, {"error": message, "reason": reason}, headers)

    async def _respond(self, request: web.Request, entry: WebhookEntry) -> web.Response:
        spec = entry.spec
        if request.method not in spec.methods:
            return self._reject(
                entry,
                405,
                "MethodNotAllowed",
                f"method {request.method} is not allowed",
                {"Allow": ", ".join(spec.methods)},
            )
        if not self._is_ready():
            return self._reject(entry, 503, "NotReady", "the operator is starting; retry", {"Retry-After": "1"})
        if spec.suspend:
            return self._reject(entry, 503, "Suspended", "the webhook is suspended; retry later", {"Retry-After": "30"})
        if entry.bucket is not None:
            wait = entry.bucket.take(time.monotonic())
            if wait > 0:
                return self._reject(
                    entry, 429, "RateLimited", "over the webhook's rate limit", {"Retry-After": str(retry_after(wait))}
                )
        try:
            body = await read_limited(request, spec.max_body_bytes)
        except TooLarge:
            return self._reject(entry, 413, "BodyTooLarge", f"body over maxBodyBytes ({spec.max_body_bytes})")
        now = self._clock.now()
        headers = dict(request.headers)
        if spec.auth.type != AuthType.NONE:
            refused = await self._authenticate(entry, headers, body)
            if refused is not None:
                return refused
        try:
            event = build_event(
                ref=entry.ref, spec=spec, method=request.method, headers=headers, body=body, received_at=now
            )
        except IntakeError as exc:
            return self._reject(entry, exc.status, exc.reason, str(exc))
        if spec.filter:
            verdict = evaluate_filter(spec.filter, filter_context(event, headers, event.data, spec.auth))
            if not verdict.matched:
                self._controller.count(entry, "filtered")
                answer: dict[str, Any] = {"eventId": event.id, "jobs": [], "duplicate": False, "filtered": True}
                if verdict.error:
                    answer["filterError"] = verdict.error
                return _reply(202, answer)
        leading = self._controller.view.leading()
        nudged: list[str] = []
        if spec.target is not None:
            # The leader polls the Sensor now; another replica checks it exists and forwards the nudge below.
            there = self._controller.nudge if leading else self._controller.view.sensor_exists
            if not there(entry.ref.namespace, spec.target.sensor):
                return self._reject(
                    entry,
                    503,
                    "TargetNotFound",
                    f"sensor {spec.target.sensor} is not running here",
                    {"Retry-After": "5"},
                )
            nudged.append(spec.target.sensor)
        if entry.target is None:
            if leading:
                await self._pipeline.publish(entry.ref, event)  # for Automations
            elif (refused := await self._forward(entry, event, nudged)) is not None:
                return refused
            self._controller.count(entry, "accepted", event_id=event.id)
            return _reply(202, {"eventId": event.id, "jobs": [], "duplicate": False, "nudged": nudged})
        try:
            result = await self._pipeline.dispatch(entry.target, event)
        except KubeError as exc:
            log.warning("webhook %s/%s: API server failed: %s", entry.ref.namespace, entry.ref.name, exc)
            return self._reject(
                entry, 503, "ApiUnavailable", "the Kubernetes API is unavailable; retry", {"Retry-After": "1"}
            )
        if not leading and (refused := await self._forward(entry, event, nudged)) is not None:
            return refused  # the Job exists (a retry finds it: 200 duplicate) but the leader has not got the event
        if result.outcome is DispatchOutcome.CREATED:
            self._controller.count(entry, "accepted", event_id=event.id)
            return _reply(202, {"eventId": event.id, "jobs": list(result.jobs), "duplicate": False})
        if result.outcome is DispatchOutcome.DUPLICATE:
            self._controller.count(entry, "duplicates", event_id=event.id)
            return _reply(200, {"eventId": event.id, "jobs": list(result.jobs), "duplicate": True})
        if result.outcome is DispatchOutcome.QUEUED:
            self._controller.count(entry, "accepted", event_id=event.id)
            return _reply(202, {"eventId": event.id, "jobs": [], "duplicate": False, "queued": True})
        if result.reason in UNPROCESSABLE_SKIPS:
            return self._reject(entry, 422, result.reason, result.message)
        status = RETRYABLE_SKIPS.get(result.reason, 503)
        return self._reject(entry, status, result.reason, result.message, {"Retry-After": "5"})

    async def _forward(self, entry: WebhookEntry, event: Event, nudged: list[str]) -> web.Response | None:
        """On a replica that does not lead: what the request means for Automations and Sensors goes to the leader
        through the Webhook's status before the answer (nothing accepted is lost); None when done or not needed."""
        publish = self._controller.view.automations_may_want(event)
        if not publish and not nudged:
            return None
        try:
            await self._controller.forward(entry, event, publish=publish, nudge=nudged[0] if nudged else None)
        except ForwardRefused as exc:
            return self._reject(entry, 503, exc.reason, str(exc), {"Retry-After": "1"})
        except KubeError as exc:
            log.warning("webhook %s/%s: could not forward to the leader: %s", entry.ref.namespace, entry.ref.name, exc)
            return self._reject(
                entry, 503, "ApiUnavailable", "the Kubernetes API is unavailable; retry", {"Retry-After": "1"}
            )
        self._metrics.forwarded.labels("sent").inc()
        return None

    async def _authenticate(self, entry: WebhookEntry, headers: dict[str, str], body: bytes) -> web.Response | None:
        for fresh in (False, True):
            try:
                secrets = await self._controller.secrets_for(entry, fresh=fresh)
            except MissingSecret as exc:
                return self._reject(entry, 503, "SecretNotFound", str(exc), {"Retry-After": "5"})
            except KubeError as exc:  # the Secret could not be read: an outage, not a failure of this request
                log.warning("webhook %s/%s: API server failed: %s", entry.ref.namespace, entry.ref.name, exc)
                return self._reject(
                    entry, 503, "ApiUnavailable", "the Kubernetes API is unavailable; retry", {"Retry-After": "1"}
                )
            try:
                verify(
                    entry.spec.auth,
                    secrets,
                    headers,
                    body,
                    self._clock.now(),
                    self._controller.replay,
                    scope=entry.ref.uid,
                )
                return None
            except AuthFailure as failure:
                # A mismatch may mean the Secret was rotated since it was cached: read it again, once.
                if fresh or failure.reason not in ("BadSignature", "BadToken"):
                    return self._reject(entry, 401, failure.reason, str(failure))
        return None

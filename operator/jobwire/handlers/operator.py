"""Start and stop the operator: Kopf's settings in one place, the services, the probe server, the handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import kopf

from jobwire.api.kinds import KINDS
from jobwire.controllers.automations import AutomationController
from jobwire.controllers.schedules import ScheduleController
from jobwire.controllers.sensors import SensorController
from jobwire.controllers.webhooks import LeaderView, WebhookController
from jobwire.events.bus import EventBus
from jobwire.handlers import automations, schedules, sensors, webhooks
from jobwire.handlers.context import Context
from jobwire.handlers.targets import resolver
from jobwire.jobs.pipeline import Pipeline
from jobwire.jobs.tracker import Tracker
from jobwire.jobs.watch import JobWatch
from jobwire.kube.api import Kube
from jobwire.kube.client import make_api_client
from jobwire.kube.events import EventRecorder
from jobwire.kube.secrets import SecretReader
from jobwire.kube.status import StatusWriter
from jobwire.leader.gate import JOBS, Leadership
from jobwire.leader.lease import LeaseElector, default_identity
from jobwire.metrics import Metrics
from jobwire.probes.server import ProbeServer
from jobwire.receiver.server import WebhookReceiver
from jobwire.settings import Settings
from jobwire.timing.clock import Clock, SystemClock

__all__ = ["build_context", "build_registry", "kopf_settings", "run_operator"]

log = logging.getLogger(__name__)

KOPF_PREFIX = "kopf.jobwire.io"
WORKER_LIMIT = 256
"""Objects whose events are handled at once, by Kopf (Jobwire's kinds) and by the Job watch: bounds the work in
flight (the record of a finished Job lists its producer's Jobs)."""
WORKER_IDLE_SECONDS = 0.1


class NoDiffBase(kopf.DiffBaseStorage):
    """Kopf diffs every watch event against the object's last handled state, for on.create/update/resume
    handlers: a deep copy of the body and a diff per event, whoever's handlers want it. Jobwire has none (each
    handler takes raw events and tracks generations itself), so nothing is built, stored or diffed — at hundreds
    of Jobs a second that copy was a tenth of the operator's CPU (benchmarks/RESULTS.md, Webhooks)."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def kopf_settings(settings: Settings) -> kopf.OperatorSettings:
    """Kopf's knobs. Every handler takes raw watch events, so Kopf writes no marks on the objects (with several
    replicas they would be written by each); were it to, they would live under kopf.jobwire.io — not jobwire.io
    itself, whose annotations (run-requested-at, reset-cursor) Kopf would then take for its own and never diff —
    and it needs no finalizer: Jobs carry an ownerReference, so the garbage collector cleans up after a deleted
    producer."""
    ks = kopf.OperatorSettings()
    ks.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    ks.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    ks.persistence.diffbase_storage = NoDiffBase()
    ks.posting.enabled = False  # Jobwire posts its own Events, for the moments a person cares about.
    ks.peering.standalone = True
    ks.watching.server_timeout = 300
    ks.watching.client_timeout = 330
    ks.networking.request_timeout = 30
    # A worker per object, at most WORKER_LIMIT at once; Kopf keeps each for idle_timeout after its last event
    # (5 s by default), holding its place: that took on at most 51 new objects a second (when Kopf still watched
    # the Jobs, a burst of them was tracked minutes late). Every handler here takes raw events and keeps no
    # state in its worker, so one that is idle goes at once.
    ks.queueing.worker_limit = WORKER_LIMIT
    ks.queueing.idle_timeout = WORKER_IDLE_SECONDS
    return ks


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(
            **kwargs
        )
        return info

    @kopf.on.cleanup(registry=registry)
    async def resign(memo: Context, **_: Any) -> None:
        """As soon as the operator is told to stop: the leader hands over (a no-op without an election)."""
        await memo.leadership.resign()

    schedules.register(registry)
    webhooks.register(registry)
    sensors.register(registry)
    automations.register(registry)
    return registry


def build_context(settings: Settings, kube: Kube, clock: Clock, *, identity: str = "") -> Context:
    metrics = Metrics()
    status = StatusWriter(kube)
    recorder = EventRecorder(kube, instance=identity)
    bus = EventBus()
    pipeline = Pipeline(
        kube,
        status,
        recorder,
        metrics,
        clock,
        bus,
        default_service_account=settings.default_service_account if settings.impersonate else None,
    )
    resolve = resolver(status)
    tracker = Tracker(
        kube=kube,
        pipeline=pipeline,
        status=status,
        recorder=recorder,
        metrics=metrics,
        clock=clock,
        bus=bus,
        resolve=resolve,
        plurals={k.kind: k.plural for k in KINDS},
    )
    controller = ScheduleController(pipeline=pipeline, status=status, recorder=recorder, metrics=metrics, clock=clock)
    secrets = SecretReader(kube)
    sensor_controller = SensorController(
        kube=kube,
        pipeline=pipeline,
        status=status,
        secrets=secrets,
        metrics=metrics,
        clock=clock,
        settings=settings.sensors,
    )
    hooks = WebhookController(
        pipeline=pipeline, status=status, secrets=secrets, clock=clock, nudge=sensor_controller.poll_now
    )
    automation_controller = AutomationController(
        kube=kube,
        pipeline=pipeline,
        status=status,
        secrets=secrets,
        recorder=recorder,
        metrics=metrics,
        clock=clock,
        bus=bus,
        settings=settings.automations,
    )
    leadership = Leadership(
        kube=kube,
        namespaces=settings.watch.namespaces,
        schedules=controller,
        sensors=sensor_controller,
        webhooks=hooks,
        automations=automation_controller,
        tracker=tracker,
        metrics=metrics,
        leading=not settings.leader_election.enabled,
    )
    hooks.view = LeaderView(
        leading=lambda: leadership.leading,
        automations_may_want=automation_controller.may_want,
        sensor_exists=leadership.sensor_exists,
        publish=bus.publish,
        identity=identity,
    )
    return Context(
        leadership=leadership,
        identity=identity,
        automations=automation_controller,
        webhooks=hooks,
        sensors=sensor_controller,
        settings=settings,
        kube=kube,
        metrics=metrics,
        clock=clock,
        status=status,
        recorder=recorder,
        bus=bus,
        pipeline=pipeline,
        tracker=tracker,
        schedules=controller,
    )


async def run_operator(
    settings: Settings,
    *,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    on_context: Callable[[Context], None] | None = None,
) -> None:
    """Run until `stop` is set (or a signal stops Kopf). `on_context` sees the parts once built (benchmarks feed
    events straight to the bus with it)."""
    api = await make_api_client()
    identity = settings.leader_election.identity or default_identity()
    context = build_context(settings, Kube(api), clock or SystemClock(), identity=identity)
    if on_context is not None:
        on_context(context)
    ready = ready or asyncio.Event()
    probes = ProbeServer(context.metrics, ready.is_set)
    await probes.start(settings.http.host, settings.http.probe_port)
    receiver = WebhookReceiver(
        controller=context.webhooks,
        pipeline=context.pipeline,
        metrics=context.metrics,
        clock=context.clock,
        is_ready=ready.is_set,
    )
    await receiver.start(settings.http.host, settings.http.webhook_port)
    leadership = context.leadership
    jobs = JobWatch(
        context.kube, settings.watch.namespaces, lambda event: leadership.on_event(JOBS, event), limit=WORKER_LIMIT
    )
    background = [
        asyncio.create_task(context.schedules.ticker.run(), name="jobwire-ticker"),
        asyncio.create_task(context.webhooks.run_flusher(), name="jobwire-webhook-counters"),
        asyncio.create_task(context.sensors.ticker.run(), name="jobwire-sensor-polls"),
        asyncio.create_task(context.automations.ticker.run(), name="jobwire-automation-deadlines"),
        asyncio.create_task(context.automations.run_checkpoints(), name="jobwire-automation-checkpoints"),
        asyncio.create_task(jobs.run(), name="jobwire-job-watch"),
    ]
    elector = await _elector(settings, context)
    if elector is not None:
        context.leadership.release = elector.release
        background.append(asyncio.create_task(elector.run(), name="jobwire-leader-election"))
    scope = "cluster-wide" if settings.watch.clusterwide else f"namespaces {', '.join(settings.watch.namespaces)}"
    log.info(
        "jobwire operator starting (%s); probes and metrics on :%d, webhooks on :%d",
        scope,
        settings.http.probe_port,
        settings.http.webhook_port,
    )
    try:
        await kopf.operator(
            registry=build_registry(),
            settings=kopf_settings(settings),
            clusterwide=settings.watch.clusterwide,
            namespaces=settings.watch.namespaces,
            memo=context,
            ready_flag=ready,
            stop_flag=stop,
        )
    finally:
        await receiver.stop()
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await context.leadership.close()
        await context.webhooks.flush_counters()
        await context.sensors.close()
        await context.automations.close()
        await context.recorder.drain()
        if elector is not None:
            await elector.release()  # last: what the leader wrote above was written while it held the Lease
        await probes.stop()
        await api.close()
        log.info("jobwire operator stopped")


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


async def _elector(settings: Settings, context: Context) -> LeaseElector | None:
    """The Lease election when it is on (the chart turns it on); without it this replica always leads."""
    election = settings.leader_election
    if not election.enabled:
        return None
    namespace = election.namespace
    if not namespace:
        found = await asyncio.to_thread(_read_text, SERVICE_ACCOUNT_NAMESPACE)
        namespace = found.strip() if found else "default"
    log.info(
        "leader election on: Lease %s/%s as %s (lease %gs, renewed every %gs)",
        namespace,
        election.lease_name,
        context.identity,
        election.lease_seconds,
        election.renew_seconds,
    )
    return LeaseElector(
        context.kube,
        namespace=namespace,
        name=election.lease_name,
        identity=context.identity,
        lease_seconds=election.lease_seconds,
        renew_seconds=election.renew_seconds,
        on_started=context.leadership.start_leading,
        on_stopped=context.leadership.stop_leading,
    )


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None

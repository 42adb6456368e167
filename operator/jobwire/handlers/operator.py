"""Start and stop the operator: Kopf's settings in one place, the services, the probe server, the handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import kopf

from jobwire.api.kinds import KINDS
from jobwire.controllers.automations import AutomationController
from jobwire.controllers.schedules import ScheduleController
from jobwire.controllers.sensors import SensorController
from jobwire.controllers.webhooks import WebhookController
from jobwire.events.bus import EventBus
from jobwire.handlers import automations, jobs, schedules, sensors, webhooks
from jobwire.handlers.context import Context
from jobwire.handlers.targets import resolver
from jobwire.jobs.pipeline import Pipeline
from jobwire.jobs.tracker import Tracker
from jobwire.kube.api import Kube
from jobwire.kube.client import make_api_client
from jobwire.kube.events import EventRecorder
from jobwire.kube.secrets import SecretReader
from jobwire.kube.status import StatusWriter
from jobwire.metrics import Metrics
from jobwire.probes.server import ProbeServer
from jobwire.receiver.server import WebhookReceiver
from jobwire.settings import Settings
from jobwire.timing.clock import Clock, SystemClock

__all__ = ["build_context", "build_registry", "kopf_settings", "run_operator"]

log = logging.getLogger(__name__)

KOPF_PREFIX = "kopf.jobwire.io"


def kopf_settings(settings: Settings) -> kopf.OperatorSettings:
    """Kopf's knobs. Its marks on objects live under kopf.jobwire.io — not jobwire.io itself, whose annotations
    (run-requested-at, reset-cursor) Kopf would then take for its own and never diff — and it needs no finalizer:
    Jobs carry an ownerReference, so the garbage collector cleans up after a deleted producer."""
    ks = kopf.OperatorSettings()
    ks.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    ks.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    ks.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    ks.posting.enabled = False  # Jobwire posts its own Events, for the moments a person cares about.
    ks.peering.standalone = True
    ks.watching.server_timeout = 300
    ks.watching.client_timeout = 330
    ks.networking.request_timeout = 30
    ks.queueing.worker_limit = 256
    return ks


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(
            **kwargs
        )
        return info

    schedules.register(registry)
    webhooks.register(registry)
    sensors.register(registry)
    jobs.register(registry)
    automations.register(registry)
    return registry


def build_context(settings: Settings, kube: Kube, clock: Clock) -> Context:
    metrics = Metrics()
    status = StatusWriter(kube)
    recorder = EventRecorder(kube)
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
    return Context(
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
    context = build_context(settings, Kube(api), clock or SystemClock())
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
    background = [
        asyncio.create_task(context.schedules.ticker.run(), name="jobwire-ticker"),
        asyncio.create_task(context.webhooks.run_flusher(), name="jobwire-webhook-counters"),
        asyncio.create_task(context.sensors.ticker.run(), name="jobwire-sensor-polls"),
        asyncio.create_task(context.automations.ticker.run(), name="jobwire-automation-deadlines"),
        asyncio.create_task(context.automations.run_checkpoints(), name="jobwire-automation-checkpoints"),
    ]
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
        await context.webhooks.flush_counters()
        await context.sensors.close()
        await context.automations.close()
        await context.recorder.drain()
        await probes.stop()
        await api.close()
        log.info("jobwire operator stopped")

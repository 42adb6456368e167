"""Start and stop the operator: Kopf's settings in one place, the probe server, the handlers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from jobwire.api.kinds import KINDS
from jobwire.handlers import acceptance
from jobwire.handlers.context import Context
from jobwire.kube.client import make_api_client
from jobwire.metrics import Metrics
from jobwire.probes.server import ProbeServer
from jobwire.settings import Settings

__all__ = ["build_registry", "kopf_settings", "run_operator"]

log = logging.getLogger(__name__)


def kopf_settings(settings: Settings) -> kopf.OperatorSettings:
    """Kopf's knobs. Its marks on objects live under jobwire.io, and it needs no finalizer: Jobs carry an
    ownerReference, so the garbage collector cleans up after a deleted producer."""
    ks = kopf.OperatorSettings()
    ks.persistence.finalizer = "jobwire.io/finalizer"
    ks.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="jobwire.io")
    ks.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="jobwire.io", key="last-handled-configuration"
    )
    ks.posting.enabled = False  # Jobwire posts its own Events, for the moments a person cares about.
    ks.peering.standalone = True
    ks.watching.server_timeout = 300
    ks.watching.client_timeout = 330
    ks.networking.request_timeout = 30
    return ks


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(
            **kwargs
        )
        return info

    for kind in KINDS:
        acceptance.register(registry, kind)
    return registry


async def run_operator(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or a signal stops Kopf)."""
    metrics = Metrics()
    api = await make_api_client()
    context = Context(settings=settings, api=api, metrics=metrics)
    ready = asyncio.Event()
    probes = ProbeServer(metrics, ready.is_set)
    await probes.start(settings.http.host, settings.http.probe_port)
    scope = "cluster-wide" if settings.watch.clusterwide else f"namespaces {', '.join(settings.watch.namespaces)}"
    log.info("jobwire operator starting (%s); probes and metrics on :%d", scope, settings.http.probe_port)
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
        await probes.stop()
        await api.close()
        log.info("jobwire operator stopped")

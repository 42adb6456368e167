"""Kopf glue for Webhooks: keep the controller's table of paths in step with the watch, on every replica.

Raw watch events, not Kopf's change detection: a busy Webhook's status changes many times a second, and Kopf would
deep-copy the object on each to look for spec changes. The generation says the same, for free.
"""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.api.kinds import GROUP, VERSION, WEBHOOK
from jobwire.handlers.context import Context
from jobwire.kube.errors import KubeError

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    plural = WEBHOOK.plural

    @kopf.on.startup(registry=registry, id="webhook-preload")
    async def preload(memo: Context, logger: kopf.Logger, **_: Any) -> None:
        """Kopf says ready when its startup handlers are done: the Webhooks that exist are loaded by then, so a
        known path never answers 404 while the watch catches up (the receiver answers 503 until ready)."""
        try:
            count = await memo.webhooks.preload(memo.kube, memo.settings.watch.namespaces)
        except KubeError as exc:
            raise kopf.TemporaryError(f"could not load the Webhooks: {exc}", delay=1) from exc
        logger.info("loaded %d webhook(s) before getting ready", count)

    @kopf.on.event(GROUP, VERSION, plural, registry=registry, id="webhook-watch")
    async def watch(event: kopf.RawEvent, memo: Context, **_: Any) -> None:
        # Every replica keeps the table; the leader also writes Ready and takes what followers forwarded.
        await memo.leadership.on_event(plural, event)

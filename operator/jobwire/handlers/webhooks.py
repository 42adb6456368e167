"""Kopf glue for Webhooks: keep the controller's table of paths in step with the watch, on every replica."""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.api.kinds import GROUP, VERSION, WEBHOOK
from jobwire.handlers.context import Context

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    plural = WEBHOOK.plural

    @kopf.on.resume(GROUP, VERSION, plural, registry=registry, id="webhook-load")
    @kopf.on.create(GROUP, VERSION, plural, registry=registry, id="webhook-load")
    @kopf.on.update(GROUP, VERSION, plural, field="spec", registry=registry, id="webhook-load")
    async def load(body: kopf.Body, memo: Context, **_: Any) -> None:
        await memo.webhooks.sync({key: body[key] for key in body})

    @kopf.on.delete(GROUP, VERSION, plural, registry=registry, optional=True, id="webhook-forget")
    async def forget(name: str, namespace: str | None, memo: Context, **_: Any) -> None:
        memo.webhooks.forget(namespace or "", name)

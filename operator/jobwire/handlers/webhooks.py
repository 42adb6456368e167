"""Kopf glue for Webhooks: keep the controller's table of paths in step with the watch, on every replica.

Raw watch events, not Kopf's change detection: a busy Webhook's status changes many times a second, and Kopf would
deep-copy the object on each to look for spec changes. The generation says the same, for free.
"""

from __future__ import annotations

from typing import Any

import kopf

from jobwire.api.kinds import GROUP, VERSION, WEBHOOK
from jobwire.handlers.context import Context

__all__ = ["register"]


def register(registry: kopf.OperatorRegistry) -> None:
    plural = WEBHOOK.plural

    @kopf.on.event(GROUP, VERSION, plural, registry=registry, id="webhook-watch")
    async def watch(event: kopf.RawEvent, memo: Context, **_: Any) -> None:
        # Every replica keeps the table; the leader also writes Ready and takes what followers forwarded.
        await memo.leadership.on_event(plural, event)

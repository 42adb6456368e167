"""In-process delivery of events to whoever listens (Automations, metrics), in the order they were published.

A subscriber that fails is logged and does not stop the others: the producer's own Job never depends on them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from jobwire.events.model import Event, ProducerRef

__all__ = ["EventBus", "Subscriber"]

log = logging.getLogger(__name__)

Subscriber = Callable[[Event, ProducerRef | None], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: Event, producer: ProducerRef | None = None) -> None:
        for subscriber in self._subscribers:
            try:
                await subscriber(event, producer)
            except Exception:
                log.exception("event subscriber failed on %s %s", event.type, event.id)

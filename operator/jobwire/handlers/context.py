"""What every handler needs, built once at start-up and handed to Kopf as its `memo`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubernetes_asyncio import client

from jobwire.metrics import Metrics
from jobwire.settings import Settings

__all__ = ["Context", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    api: client.ApiClient
    metrics: Metrics
    clock: Callable[[], datetime] = field(default=utc_now)
    """The clock every decision reads; tests inject their own."""

"""Which poller runs which kind of source: one line per kind. A new source is one module and one line here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobwire.api.sensor import SensorSource
from jobwire.sources.base import Source
from jobwire.sources.http import HttpPoller
from jobwire.sources.kubernetes import KubernetesPoller
from jobwire.sources.prometheus import PrometheusPoller
from jobwire.sources.s3 import S3Poller
from jobwire.sources.sql import SqlPoller

__all__ = ["POLLERS", "make_source", "source_kind"]

POLLERS: dict[str, Callable[[Any], Source]] = {
    "http": HttpPoller,
    "s3": S3Poller,
    "sql": SqlPoller,
    "kubernetes": KubernetesPoller,
    "prometheus": PrometheusPoller,
}
"""Kind (the field name in SensorSource) → the poller built from that field's spec."""


def source_kind(spec: SensorSource) -> str:
    """The kind of source `spec` sets ("http", "s3", ...); ValueError unless it sets exactly one."""
    kinds = [kind for kind in POLLERS if getattr(spec, kind, None) is not None]
    if len(kinds) != 1:
        raise ValueError(f"a Sensor source sets exactly one of {', '.join(POLLERS)}; this one sets {len(kinds)}")
    return kinds[0]


def make_source(spec: SensorSource) -> Source:
    """A new poller for `spec`; the caller polls it and closes it."""
    kind = source_kind(spec)
    return POLLERS[kind](getattr(spec, kind))

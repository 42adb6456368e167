"""The registry: one poller per kind of SensorSource, and the package's public surface."""

from __future__ import annotations

import inspect

import pytest

import jobwire.sources
from jobwire.api.common import SecretKeyRef
from jobwire.api.sensor import (
    HttpSource,
    KubernetesSource,
    PrometheusSource,
    S3Source,
    SensorSource,
    SqlSource,
)
from jobwire.sources.http import HttpPoller
from jobwire.sources.kubernetes import KubernetesPoller
from jobwire.sources.prometheus import PrometheusPoller
from jobwire.sources.registry import POLLERS, make_source, source_kind
from jobwire.sources.s3 import S3Poller
from jobwire.sources.sql import SqlPoller

SPECS = {
    "http": (SensorSource(http=HttpSource(url="http://x", condition="true")), HttpPoller),
    "s3": (SensorSource(s3=S3Source(bucket="bkt")), S3Poller),
    "sql": (SensorSource(sql=SqlSource(dsn=SecretKeyRef(name="db", key="dsn"), query="SELECT 1")), SqlPoller),
    "kubernetes": (SensorSource(kubernetes=KubernetesSource(api_version="v1", kind="Pod")), KubernetesPoller),
    "prometheus": (
        SensorSource(prometheus=PrometheusSource(url="http://p", query="up", condition="true")),
        PrometheusPoller,
    ),
}


def test_the_public_surface() -> None:
    assert sorted(jobwire.sources.__all__) == sorted(
        ["Item", "PollContext", "PollResult", "Source", "SourceError", "make_source", "source_kind"]
    )


def test_every_kind_of_source_in_the_api_has_a_poller() -> None:
    assert set(POLLERS) == set(SensorSource.model_fields) == set(SPECS)


@pytest.mark.parametrize("kind", sorted(SPECS))
async def test_make_source_builds_the_poller_of_the_kind(kind: str) -> None:
    spec, poller_type = SPECS[kind]

    source = make_source(spec)

    assert source_kind(spec) == kind
    assert isinstance(source, poller_type)
    assert inspect.iscoroutinefunction(source.poll)
    assert inspect.iscoroutinefunction(source.close)
    await source.close()


def test_a_source_that_sets_no_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        source_kind(SensorSource())

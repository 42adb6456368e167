"""The Prometheus source against a real Prometheus, scraping a metrics endpoint the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from jobwire.api.sensor import PrometheusSource
from jobwire.kube.api import Kube
from jobwire.sources.base import PollContext, SourceError
from jobwire.sources.prometheus import PrometheusPoller
from tests.support.servers import (
    PrometheusServer,
    ReplyServer,
    http_server,
    kube,
    poll_context,
    prometheus,
    wait_for_prometheus,
)

pytestmark = pytest.mark.cluster
__all__ = ["http_server", "kube", "prometheus"]  # fixtures used by this module

DEPTH = "jobwire_test_queue_depth"
ABOVE_FIVE = "result.result.size() > 0 && double(result.result[0].value[1]) > 5.0"


def set_depth(prometheus: PrometheusServer, value: int) -> None:
    prometheus.target.reply("/metrics", text=f'# TYPE {DEPTH} gauge\n{DEPTH}{{queue="etl"}} {value}\n')
    wait_for_prometheus(prometheus, DEPTH, str(value))


@pytest.fixture
def context(kube: Kube, namespace: str) -> PollContext:
    return poll_context(kube, namespace)


@pytest.fixture
async def poller() -> AsyncIterator[Callable[..., PrometheusPoller]]:
    made: list[PrometheusPoller] = []

    def make(**spec: Any) -> PrometheusPoller:
        made.append(PrometheusPoller(PrometheusSource(**spec)))
        return made[-1]

    yield make
    for each in made:
        await each.close()


async def test_the_condition_follows_the_scraped_value(
    prometheus: PrometheusServer, context: PollContext, poller: Callable[..., PrometheusPoller]
) -> None:
    source = poller(url=prometheus.url, query=f'{DEPTH}{{queue="etl"}}', condition=ABOVE_FIVE)

    set_depth(prometheus, 3)
    low = await source.poll(None, context)
    set_depth(prometheus, 9)
    high = await source.poll(None, context)

    assert (low.condition, low.items, low.cursor) == (False, (), None)
    assert (high.condition, high.items, high.cursor) == (True, (), None)
    assert "vector" in high.detail


async def test_the_condition_sees_the_result_type_and_scalars(
    prometheus: PrometheusServer, context: PollContext, poller: Callable[..., PrometheusPoller]
) -> None:
    source = poller(
        url=prometheus.url + "/",
        query="scalar(vector(2))",
        condition="result.resultType == 'scalar' && double(result.result[1]) == 2.0",
    )

    assert (await source.poll(None, context)).condition is True


async def test_a_query_prometheus_refuses_is_a_bad_response_with_its_error(
    prometheus: PrometheusServer, context: PollContext, poller: Callable[..., PrometheusPoller]
) -> None:
    source = poller(url=prometheus.url, query="sum(", condition="true")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "BadResponse"
    assert "bad_data" in failure.value.message
    assert "parse error" in failure.value.message


async def test_a_condition_that_is_not_a_bool_is_an_expression_failure(
    prometheus: PrometheusServer, context: PollContext, poller: Callable[..., PrometheusPoller]
) -> None:
    source = poller(url=prometheus.url, query="vector(1)", condition="result.result")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "ExpressionFailed"
    assert "not a bool" in failure.value.message


async def test_a_server_that_is_not_prometheus_is_a_bad_response(
    http_server: ReplyServer, context: PollContext, poller: Callable[..., PrometheusPoller]
) -> None:
    http_server.reply("/api/v1/query", text="<html>login</html>", content_type="text/html")
    source = poller(url=http_server.url, query="up", condition="true")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "BadResponse"


async def test_no_answer_in_time_is_a_timeout(
    http_server: ReplyServer, kube: Kube, namespace: str, poller: Callable[..., PrometheusPoller]
) -> None:
    http_server.reply("/api/v1/query", {}, hang=True)
    source = poller(url=http_server.url, query="up", condition="true")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, poll_context(kube, namespace, timeout=0.3))

    assert failure.value.reason == "Timeout"

"""The HTTP source against a real HTTP server on 127.0.0.1, header values from real Secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from jobwire.api.common import SecretKeyRef
from jobwire.api.sensor import HeaderValue, HttpSource
from jobwire.kube.api import Kube
from jobwire.sources.base import PollContext, SourceError
from jobwire.sources.http import HttpPoller
from tests.support.builders import secret
from tests.support.kube import Cluster
from tests.support.operator import free_port
from tests.support.servers import ReplyServer, http_server, kube, poll_context

pytestmark = pytest.mark.cluster
__all__ = ["http_server", "kube"]  # fixtures used by this module

TOKEN = "tok-3f9a8c1e7d"  # the Secret's value: it must reach the server and never a message


@pytest.fixture
async def context(kube: Kube, namespace: str) -> PollContext:
    return poll_context(kube, namespace, timeout=5.0)


@pytest.fixture
async def poller() -> AsyncIterator[Callable[..., HttpPoller]]:
    made: list[HttpPoller] = []

    def make(**spec: Any) -> HttpPoller:
        made.append(HttpPoller(HttpSource(**spec)))
        return made[-1]

    yield make
    for each in made:
        await each.close()


async def test_items_come_with_their_keys_in_order_on_every_poll(
    http_server: ReplyServer, context: PollContext, poller: Callable[..., HttpPoller]
) -> None:
    http_server.reply("/builds", {"builds": [{"id": 7, "state": "done"}, {"id": "b-8", "state": "new"}]})
    source = poller(url=f"{http_server.url}/builds", items="response.builds", key="item.id")

    first = await source.poll(None, context)
    second = await source.poll(first.cursor, context)

    assert [(item.key, item.data) for item in first.items] == [
        ("7", {"id": 7, "state": "done"}),
        ("b-8", {"id": "b-8", "state": "new"}),
    ]
    assert second.items == first.items  # dedupe is the engine's: the source returns the whole list
    assert first.cursor is None
    assert first.condition is None


async def test_a_condition_gives_its_current_value_and_no_items(
    http_server: ReplyServer, context: PollContext, poller: Callable[..., HttpPoller]
) -> None:
    source = poller(url=f"{http_server.url}/health", condition="response.status == 'green'")

    http_server.reply("/health", {"status": "red"})
    red = await source.poll(None, context)
    http_server.reply("/health", {"status": "green"})
    green = await source.poll(None, context)

    assert (red.condition, red.items) == (False, ())
    assert (green.condition, green.items) == (True, ())


async def test_headers_from_secrets_and_the_body_reach_the_server(
    cluster: Cluster,
    namespace: str,
    http_server: ReplyServer,
    context: PollContext,
    poller: Callable[..., HttpPoller],
) -> None:
    assert cluster.apply(secret("api", namespace, token=f"Bearer {TOKEN}\n")).returncode == 0
    http_server.reply("/search", {"hits": []})
    source = poller(
        url=f"{http_server.url}/search",
        method="POST",
        headers=[
            HeaderValue(name="Authorization", secret_ref=SecretKeyRef(name="api", key="token")),
            HeaderValue(name="X-Team", value="data"),
        ],
        body='{"q": "new"}',
        items="response.hits",
        key="item.id",
    )

    result = await source.poll(None, context)

    assert result.items == ()
    request = http_server.requests[-1]
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"  # the Secret's trailing newline is not sent
    assert request.headers["X-Team"] == "data"
    assert request.body == b'{"q": "new"}'


async def test_an_unexpected_status_is_named_without_secrets_or_the_query_string(
    cluster: Cluster,
    namespace: str,
    http_server: ReplyServer,
    context: PollContext,
    poller: Callable[..., HttpPoller],
) -> None:
    assert cluster.apply(secret("api", namespace, token=TOKEN)).returncode == 0
    http_server.reply("/down", {"error": TOKEN}, status=503)
    http_server.reply("/ok", {"done": True}, status=200)
    headers = [HeaderValue(name="X-Token", secret_ref=SecretKeyRef(name="api", key="token"))]
    default = poller(url=f"{http_server.url}/down?api_key=qs-secret", headers=headers, condition="true")
    strict = poller(url=f"{http_server.url}/ok", expected_status=[202], condition="true")

    with pytest.raises(SourceError) as down:
        await default.poll(None, context)
    with pytest.raises(SourceError) as not_accepted:
        await strict.poll(None, context)

    assert down.value.reason == "BadStatus"
    assert "503" in down.value.message
    assert "2xx" in down.value.message
    assert TOKEN not in str(down.value)
    assert "qs-secret" not in str(down.value)
    assert not_accepted.value.reason == "BadStatus"
    assert "200" in not_accepted.value.message
    assert "202" in not_accepted.value.message


async def test_an_answer_that_is_not_json_is_a_bad_response(
    http_server: ReplyServer, context: PollContext, poller: Callable[..., HttpPoller]
) -> None:
    http_server.reply("/page", text="<html>hello</html>", content_type="text/html")
    source = poller(url=f"{http_server.url}/page", condition="true")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "BadResponse"
    assert "text/html" in failure.value.message


async def test_a_head_request_reads_as_null(
    http_server: ReplyServer, context: PollContext, poller: Callable[..., HttpPoller]
) -> None:
    http_server.reply("/file", {"ignored": True})
    source = poller(url=f"{http_server.url}/file", method="HEAD", condition="response == null")

    assert (await source.poll(None, context)).condition is True


async def test_expression_failures_name_the_expression_not_the_values(
    http_server: ReplyServer, context: PollContext, poller: Callable[..., HttpPoller]
) -> None:
    http_server.reply("/items", {"items": [{"secret": "value-4411"}], "count": "value-4411"})
    missing_key = poller(url=f"{http_server.url}/items", items="response.items", key="item.id")
    not_a_list = poller(url=f"{http_server.url}/items", items="response.count", key="item.id")
    not_a_bool = poller(url=f"{http_server.url}/items", condition="response.count")

    for source, words in ((missing_key, "item.id"), (not_a_list, "no list"), (not_a_bool, "not a bool")):
        with pytest.raises(SourceError) as failure:
            await source.poll(None, context)
        assert failure.value.reason == "ExpressionFailed"
        assert words in failure.value.message
        assert "value-4411" not in str(failure.value)


async def test_a_server_that_does_not_answer_in_time_is_a_timeout(
    http_server: ReplyServer, kube: Kube, namespace: str, poller: Callable[..., HttpPoller]
) -> None:
    http_server.reply("/slow", {"never": "sent in time"}, hang=True)
    source = poller(url=f"{http_server.url}/slow", condition="true")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, poll_context(kube, namespace, timeout=0.3))

    assert failure.value.reason == "Timeout"
    assert "0.3s" in failure.value.message


async def test_nothing_listening_is_unreachable(context: PollContext, poller: Callable[..., HttpPoller]) -> None:
    source = poller(url=f"http://user:pw-qzx@127.0.0.1:{free_port()}/x?token=t-qzx", condition="true")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "Unreachable"
    assert "qzx" not in str(failure.value)


async def test_a_missing_header_secret_is_named(
    http_server: ReplyServer, context: PollContext, poller: Callable[..., HttpPoller], namespace: str
) -> None:
    headers = [HeaderValue(name="X-Token", secret_ref=SecretKeyRef(name="absent", key="token"))]
    source = poller(url=f"{http_server.url}/x", headers=headers, condition="true")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "MissingSecret"
    assert f"{namespace}/absent" in failure.value.message

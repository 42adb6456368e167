"""The S3 source against a real S3 API (moto's server, over HTTP on 127.0.0.1), credentials from real Secrets."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from jobwire.api.common import SecretKeyRef
from jobwire.api.sensor import S3Source
from jobwire.kube.api import Kube
from jobwire.sources.base import PollContext, SourceError
from jobwire.sources.s3 import S3Poller
from tests.support.builders import secret
from tests.support.kube import Cluster
from tests.support.operator import free_port
from tests.support.servers import MotoServer, ReplyServer, http_server, kube, poll_context, s3, s3_client

pytestmark = pytest.mark.cluster
__all__ = ["http_server", "kube", "s3"]  # fixtures used by this module

ACCESS_KEY = "AKIAJOBWIRETEST4242"
SECRET_KEY = "sk-7c1d0e9b5a3f8e2d6c4b"


@pytest.fixture
async def bucket(s3: MotoServer) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    async with s3_client(s3.endpoint) as client:
        await client.create_bucket(Bucket=name)
    return name


async def put(s3: MotoServer, bucket: str, *keys: str) -> None:
    async with s3_client(s3.endpoint) as client:
        for key in keys:
            await client.put_object(Bucket=bucket, Key=key, Body=f"body of {key}".encode())


@pytest.fixture
def context(kube: Kube, namespace: str) -> PollContext:
    return poll_context(kube, namespace)


@pytest.fixture
async def poller() -> AsyncIterator[Callable[..., S3Poller]]:
    made: list[S3Poller] = []

    def make(page_size: int = 1000, **spec: Any) -> S3Poller:
        made.append(S3Poller(S3Source(**spec), page_size=page_size))
        return made[-1]

    yield make
    for each in made:
        await each.close()


def with_keys(cluster: Cluster, namespace: str) -> dict[str, SecretKeyRef]:
    assert cluster.apply(secret("s3", namespace, id=ACCESS_KEY, key=SECRET_KEY)).returncode == 0
    return {
        "access_key_id": SecretKeyRef(name="s3", key="id"),
        "secret_access_key": SecretKeyRef(name="s3", key="key"),
    }


async def test_new_objects_under_the_prefix_with_the_suffix_come_oldest_first_then_nothing(
    s3: MotoServer, bucket: str, context: PollContext, poller: Callable[..., S3Poller]
) -> None:
    await put(s3, bucket, "in/1.csv", "in/2.csv", "in/skip.txt", "out/3.csv")
    source = poller(endpoint=s3.endpoint, bucket=bucket, prefix="in/", suffix=".csv")

    first = await source.poll(None, context)

    assert sorted(item.data["key"] for item in first.items) == ["in/1.csv", "in/2.csv"]
    times = [item.data["lastModified"] for item in first.items]
    assert times == sorted(times)
    item = first.items[0]
    assert item.key == f"{item.data['key']}@{item.data['etag']}"
    assert set(item.data) == {"bucket", "key", "size", "etag", "lastModified"}
    assert item.data["bucket"] == bucket
    assert item.data["size"] == len(f"body of {item.data['key']}")
    assert '"' not in item.data["etag"]
    cursor = json.loads(first.cursor or "")
    assert cursor["after"] == max(times)
    assert set(cursor["keys"]) <= {i.key for i in first.items if i.data["key"] in ("in/1.csv", "in/2.csv")}

    again = await source.poll(first.cursor, context)
    assert again.items == ()
    assert again.cursor is None

    await put(s3, bucket, "in/4.csv")
    later = await source.poll(first.cursor, context)
    assert [item.data["key"] for item in later.items] == ["in/4.csv"]
    assert later.cursor is not None
    assert later.items[0].key in json.loads(later.cursor)["keys"]  # key@etag


async def test_every_page_of_the_listing_is_read(
    s3: MotoServer, bucket: str, context: PollContext, poller: Callable[..., S3Poller]
) -> None:
    keys = [f"k/{index:02d}" for index in range(7)]
    await put(s3, bucket, *keys)
    source = poller(page_size=2, endpoint=s3.endpoint, bucket=bucket)

    result = await source.poll(None, context)

    assert sorted(item.data["key"] for item in result.items) == keys
    assert (await source.poll(result.cursor, context)).items == ()


async def test_credentials_from_secrets_sign_the_requests(
    cluster: Cluster,
    namespace: str,
    s3: MotoServer,
    bucket: str,
    context: PollContext,
    poller: Callable[..., S3Poller],
) -> None:
    await put(s3, bucket, "signed")
    source = poller(endpoint=s3.endpoint, bucket=bucket, **with_keys(cluster, namespace))

    result = await source.poll(None, context)

    assert [item.data["key"] for item in result.items] == ["signed"]


async def test_refused_credentials_are_auth_failed_without_the_keys(
    cluster: Cluster,
    namespace: str,
    context: PollContext,
    poller: Callable[..., S3Poller],
    tmp_path: Path,
) -> None:
    strict = MotoServer(workdir=tmp_path, require_auth=True).start()
    try:
        source = poller(endpoint=strict.endpoint, bucket="any-bucket", **with_keys(cluster, namespace))
        with pytest.raises(SourceError) as failure:
            await source.poll(None, context)
    finally:
        strict.stop()

    assert failure.value.reason == "AuthFailed"
    assert ACCESS_KEY not in str(failure.value)
    assert SECRET_KEY not in str(failure.value)


async def test_a_missing_bucket_is_a_bad_status_naming_it(
    s3: MotoServer, context: PollContext, poller: Callable[..., S3Poller]
) -> None:
    source = poller(endpoint=s3.endpoint, bucket="no-such-bucket-here")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "BadStatus"
    assert "no-such-bucket-here" in failure.value.message


async def test_nothing_listening_is_unreachable(
    cluster: Cluster, namespace: str, context: PollContext, poller: Callable[..., S3Poller]
) -> None:
    source = poller(endpoint=f"http://127.0.0.1:{free_port()}", bucket="bkt", **with_keys(cluster, namespace))

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "Unreachable"
    assert SECRET_KEY not in str(failure.value)
    assert ACCESS_KEY not in str(failure.value)


async def test_an_endpoint_that_does_not_answer_in_time_is_a_timeout(
    http_server: ReplyServer, kube: Kube, namespace: str, poller: Callable[..., S3Poller]
) -> None:
    http_server.reply("/slow-bucket", {}, hang=True)
    source = poller(endpoint=http_server.url, bucket="slow-bucket")

    with pytest.raises(SourceError) as failure:
        await source.poll(None, poll_context(kube, namespace, timeout=0.5))

    assert failure.value.reason == "Timeout"


async def test_an_unreadable_cursor_is_refused_rather_than_starting_over(
    s3: MotoServer, bucket: str, context: PollContext, poller: Callable[..., S3Poller]
) -> None:
    source = poller(endpoint=s3.endpoint, bucket=bucket)

    with pytest.raises(SourceError) as failure:
        await source.poll("not json", context)

    assert failure.value.reason == "BadCursor"

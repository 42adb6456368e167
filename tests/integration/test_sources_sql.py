"""The SQL source against a real PostgreSQL (its own cluster, started for the session), DSNs from real Secrets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from jobwire.api.common import SecretKeyRef
from jobwire.api.sensor import SqlSource
from jobwire.kube.api import Kube
from jobwire.sources.base import PollContext, SourceError
from jobwire.sources.sql import SqlPoller
from tests.support.builders import secret
from tests.support.kube import Cluster
from tests.support.operator import free_port
from tests.support.servers import PostgresServer, kube, poll_context, postgres

pytestmark = pytest.mark.cluster
__all__ = ["kube", "postgres"]  # fixtures used by this module


@pytest.fixture
def table(postgres: PostgresServer) -> str:
    """A fresh table of the `jobwire` database, owned by the `jobwire` role."""
    name = f"events_{uuid.uuid4().hex[:8]}"
    postgres.psql(
        f"CREATE TABLE {name} (id bigserial PRIMARY KEY, name text NOT NULL, created timestamptz NOT NULL, "
        "amount numeric(10, 2), ref uuid, payload jsonb)",
        f"ALTER TABLE {name} OWNER TO jobwire",
        database="jobwire",
    )
    return name


def insert(postgres: PostgresServer, table: str, *names: str, created: str = "2026-01-02T03:04:05Z") -> None:
    rows = ", ".join(
        f"('{name}', '{created}', 12.5, '{uuid.UUID(int=index)}', '{{\"n\": {index}}}')"
        for index, name in enumerate(names, start=1)
    )
    postgres.psql(f"INSERT INTO {table} (name, created, amount, ref, payload) VALUES {rows}", database="jobwire")


def with_dsn(cluster: Cluster, namespace: str, dsn: str, name: str = "db") -> SecretKeyRef:
    assert cluster.apply(secret(name, namespace, dsn=dsn)).returncode == 0
    return SecretKeyRef(name=name, key="dsn")


@pytest.fixture
async def context(kube: Kube, namespace: str) -> PollContext:
    return poll_context(kube, namespace, timeout=10.0)


@pytest.fixture
async def closing() -> AsyncIterator[list[SqlPoller]]:
    pollers: list[SqlPoller] = []
    yield pollers
    for poller in pollers:
        await poller.close()


async def test_new_rows_become_items_and_the_cursor_moves_to_the_largest_value(
    cluster: Cluster,
    postgres: PostgresServer,
    namespace: str,
    table: str,
    context: PollContext,
    closing: list[SqlPoller],
) -> None:
    spec = SqlSource(
        dsn=with_dsn(cluster, namespace, postgres.dsn()),
        query=f"SELECT id, name, created, amount, ref, payload FROM {table} WHERE id > $1 ORDER BY id",
        initial_cursor="0",
    )
    poller = SqlPoller(spec)
    closing.append(poller)
    insert(postgres, table, "a", "b", "c")

    first = await poller.poll(None, context)

    assert [item.key for item in first.items] == ["1", "2", "3"]
    assert first.items[0].data == {
        "id": 1,
        "name": "a",
        "created": "2026-01-02T03:04:05+00:00",
        "amount": "12.50",
        "ref": str(uuid.UUID(int=1)),
        "payload": {"n": 1},
    }
    assert first.cursor == "3"
    assert first.condition is None

    nothing = await poller.poll(first.cursor, context)
    assert nothing.items == ()
    assert nothing.cursor is None  # unchanged

    insert(postgres, table, "d", "e")
    later = await poller.poll(first.cursor, context)
    assert [item.data["name"] for item in later.items] == ["d", "e"]
    assert later.cursor == "5"


async def test_a_timestamp_cursor_starts_from_null_and_round_trips_as_text(
    cluster: Cluster,
    postgres: PostgresServer,
    namespace: str,
    table: str,
    context: PollContext,
    closing: list[SqlPoller],
) -> None:
    spec = SqlSource(
        dsn=with_dsn(cluster, namespace, postgres.dsn()),
        query=f"SELECT name, created FROM {table} WHERE $1::timestamptz IS NULL OR created > $1 ORDER BY created, name",
        key_column="name",
        cursor_column="created",
    )
    poller = SqlPoller(spec)
    closing.append(poller)
    insert(postgres, table, "early", created="2026-01-01T00:00:00Z")
    insert(postgres, table, "late", created="2026-01-01T00:00:01.25Z")

    first = await poller.poll(None, context)
    assert [item.key for item in first.items] == ["early", "late"]
    assert first.cursor == "2026-01-01T00:00:01.250000+00:00"

    again = await poller.poll(first.cursor, context)
    assert again.items == ()


async def test_a_libpq_keyword_dsn_and_a_query_without_a_cursor_parameter(
    cluster: Cluster,
    postgres: PostgresServer,
    namespace: str,
    table: str,
    context: PollContext,
    closing: list[SqlPoller],
) -> None:
    dsn = f"host=127.0.0.1 port={postgres.port} dbname=jobwire user=jobwire password='{postgres.password}'"
    spec = SqlSource(dsn=with_dsn(cluster, namespace, dsn), query=f"SELECT id, name FROM {table} ORDER BY id")
    poller = SqlPoller(spec)
    closing.append(poller)
    insert(postgres, table, "only")

    result = await poller.poll("7", context)

    assert [item.data for item in result.items] == [{"id": 1, "name": "only"}]
    assert result.cursor == "1"


async def test_a_missing_key_or_cursor_column_is_named(
    cluster: Cluster,
    postgres: PostgresServer,
    namespace: str,
    table: str,
    context: PollContext,
    closing: list[SqlPoller],
) -> None:
    spec = SqlSource(
        dsn=with_dsn(cluster, namespace, postgres.dsn()),
        query=f"SELECT id, name FROM {table} WHERE id > $1",
        cursor_column="created",
        initial_cursor="0",
    )
    poller = SqlPoller(spec)
    closing.append(poller)

    with pytest.raises(SourceError) as failure:
        await poller.poll(None, context)

    assert failure.value.reason == "BadResponse"
    assert "'created'" in failure.value.message
    assert "id, name" in failure.value.message


async def test_query_errors_carry_the_sqlstate_and_never_the_dsn(
    cluster: Cluster, postgres: PostgresServer, namespace: str, context: PollContext, closing: list[SqlPoller]
) -> None:
    dsn = postgres.dsn()
    poller = SqlPoller(SqlSource(dsn=with_dsn(cluster, namespace, dsn), query="SELECT id FROM no_such_table"))
    closing.append(poller)

    with pytest.raises(SourceError) as failure:
        await poller.poll(None, context)

    assert failure.value.reason == "QueryFailed"
    assert failure.value.message.startswith("42P01 ")
    assert "no_such_table" in failure.value.message
    assert dsn not in str(failure.value)
    assert postgres.password not in str(failure.value)


async def test_a_wrong_password_is_auth_failed_without_the_password(
    cluster: Cluster, postgres: PostgresServer, namespace: str, context: PollContext, closing: list[SqlPoller]
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    poller = SqlPoller(
        SqlSource(dsn=with_dsn(cluster, namespace, postgres.dsn(password=wrong)), query="SELECT 1 AS id")
    )
    closing.append(poller)

    with pytest.raises(SourceError) as failure:
        await poller.poll(None, context)

    assert failure.value.reason == "AuthFailed"
    assert failure.value.message.startswith("28P01 ")
    assert wrong not in str(failure.value)
    assert "postgresql://" not in str(failure.value)


async def test_an_unreachable_database_names_no_part_of_the_dsn(
    cluster: Cluster, postgres: PostgresServer, namespace: str, context: PollContext, closing: list[SqlPoller]
) -> None:
    dsn = postgres.dsn(port=free_port())
    poller = SqlPoller(SqlSource(dsn=with_dsn(cluster, namespace, dsn), query="SELECT 1 AS id"))
    closing.append(poller)

    with pytest.raises(SourceError) as failure:
        await poller.poll(None, context)

    assert failure.value.reason == "Unreachable"
    assert postgres.password not in str(failure.value)
    assert dsn not in str(failure.value)


async def test_a_missing_secret_is_named(
    postgres: PostgresServer, kube: Kube, namespace: str, closing: list[SqlPoller]
) -> None:
    poller = SqlPoller(SqlSource(dsn=SecretKeyRef(name="absent", key="dsn"), query="SELECT 1 AS id"))
    closing.append(poller)

    with pytest.raises(SourceError) as failure:
        await poller.poll(None, poll_context(kube, namespace))

    assert failure.value.reason == "MissingSecret"
    assert f"{namespace}/absent" in failure.value.message


async def test_a_slow_query_times_out_and_the_next_poll_reconnects(
    cluster: Cluster, postgres: PostgresServer, namespace: str, kube: Kube, table: str, closing: list[SqlPoller]
) -> None:
    spec = SqlSource(
        dsn=with_dsn(cluster, namespace, postgres.dsn()),
        query=f"SELECT id, pg_sleep(CASE WHEN $1 = 'slow' THEN 30 ELSE 0 END) AS slept FROM {table}",
    )
    poller = SqlPoller(spec)
    closing.append(poller)
    insert(postgres, table, "a")

    with pytest.raises(SourceError) as failure:
        await poller.poll("slow", poll_context(kube, namespace, timeout=0.5))
    assert failure.value.reason == "Timeout"
    assert postgres.password not in str(failure.value)

    result = await poller.poll("fast", poll_context(kube, namespace, timeout=10.0))
    assert [item.key for item in result.items] == ["1"]

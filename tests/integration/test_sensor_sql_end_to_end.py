"""New rows in a real PostgreSQL become one micro-batch Job per poll, and the cursor survives an operator restart."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from jobwire.timing.clock import SteppedClock
from tests.support.builders import secret
from tests.support.inprocess import in_process_operator
from tests.support.kube import Cluster
from tests.support.sensors import events_of_jobs, poll_after_start, ready, sensor, status
from tests.support.servers import PostgresServer, postgres
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster
__all__ = ["postgres"]  # the fixture used by this module


def batches(cluster: Cluster, namespace: str) -> list[list[str]]:
    return sorted(sorted(row["name"] for row in data) for data in events_of_jobs(cluster, namespace, "orders"))


def test_rows_become_micro_batches_and_the_cursor_survives_a_restart(
    cluster: Cluster, namespace: str, postgres: PostgresServer
) -> None:
    table = f"orders_{uuid.uuid4().hex[:8]}"
    postgres.psql(
        f"CREATE TABLE {table} (id bigserial PRIMARY KEY, name text NOT NULL)",
        f"ALTER TABLE {table} OWNER TO jobwire",
        database="jobwire",
    )

    def insert(*names: str) -> None:
        values = ", ".join(f"('{n}')" for n in names)
        postgres.psql(f"INSERT INTO {table} (name) VALUES {values}", database="jobwire")

    assert cluster.apply(secret("db", namespace, dsn=postgres.dsn())).returncode == 0
    source = {
        "sql": {
            "dsn": {"name": "db", "key": "dsn"},
            "query": f"SELECT id, name FROM {table} WHERE id > $1 ORDER BY id",
            "keyColumn": "id",
            "cursorColumn": "id",
            "initialCursor": "0",
        }
    }
    manifest = sensor("orders", namespace, source, batch={"maxItems": 100})
    insert("a", "b", "c")
    clock = SteppedClock()
    with in_process_operator(cluster.kubeconfig, namespace, clock):
        assert cluster.apply(manifest).returncode == 0
        ready(cluster, namespace, "orders")
        clock.advance(timedelta(minutes=5))
        eventually(lambda: batches(cluster, namespace) == [["a", "b", "c"]], what="one batch of the three rows")
        assert status(cluster, namespace, "orders")["cursor"] == "3"
        insert("d", "e")
        clock.advance(timedelta(minutes=5))
        eventually(lambda: len(batches(cluster, namespace)) == 2, what="the second batch")
    insert("f")
    with in_process_operator(cluster.kubeconfig, namespace, clock) as restarted:
        poll_after_start(restarted, cluster, namespace, "orders")
        eventually(lambda: len(batches(cluster, namespace)) == 3, what="the batch after the restart")
    assert batches(cluster, namespace) == [["a", "b", "c"], ["d", "e"], ["f"]]
    assert status(cluster, namespace, "orders")["cursor"] == "6"

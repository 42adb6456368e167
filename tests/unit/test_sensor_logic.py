from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from jobwire.sensors.logic import (
    MAX_BACKOFF,
    SEEN_LIMIT,
    batch_event_id,
    item_event_id,
    key_digest,
    next_delay,
    plan_batches,
    record_poll,
    remember,
    select_new,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_only_unseen_keys_are_new_and_repeats_within_a_poll_count_once() -> None:
    seen = [key_digest("a")]
    assert select_new(["a", "b", "b", "c"], seen) == [1, 3]


def test_remember_keeps_the_newest_and_is_bounded() -> None:
    seen = remember([], [f"k{i}" for i in range(SEEN_LIMIT + 10)])
    assert len(seen) == SEEN_LIMIT
    assert seen[-1] == key_digest(f"k{SEEN_LIMIT + 9}")
    assert key_digest("k0") not in seen
    assert remember(seen, ["k5000"])[-1] == key_digest("k5000")


@given(st.lists(st.text(max_size=40), max_size=30))
def test_select_then_remember_leaves_nothing_new(keys: list[str]) -> None:
    assert select_new(keys, remember([], keys)) == []


def test_event_ids_are_stable_and_distinct() -> None:
    assert item_event_id("orders/42.csv") == item_event_id("orders/42.csv")
    assert item_event_id("orders/42.csv") != item_event_id("orders/43.csv")
    assert item_event_id("x" * 1000).startswith("item-")
    assert len(item_event_id("x" * 1000)) < 120
    assert batch_event_id(["a", "b"]) != batch_event_id(["b", "a"])


def test_batches_fill_then_a_partial_batch_waits_for_max_wait() -> None:
    plan = plan_batches([], [1, 2, 3, 4, 5], now=T0, pending_since=None, max_items=2, max_wait=timedelta(minutes=1))
    assert plan.fire == ((1, 2), (3, 4))
    assert plan.pending == (5,)
    later = plan_batches(
        plan.pending,
        [],
        now=T0 + timedelta(seconds=30),
        pending_since=plan.pending_since,
        max_items=2,
        max_wait=timedelta(minutes=1),
    )
    assert later.fire == ()
    assert later.pending == (5,)
    old = plan_batches(
        later.pending,
        [],
        now=T0 + timedelta(minutes=2),
        pending_since=later.pending_since,
        max_items=2,
        max_wait=timedelta(minutes=1),
    )
    assert old.fire == ((5,),)
    assert old.pending == ()


def test_without_max_wait_every_poll_fires_what_it_has() -> None:
    plan = plan_batches([], [1, 2, 3], now=T0, pending_since=None, max_items=10, max_wait=timedelta(0))
    assert plan.fire == ((1, 2, 3),)


def test_backoff_doubles_and_is_capped() -> None:
    interval = timedelta(seconds=5)
    assert next_delay(interval, 0) == interval
    assert next_delay(interval, 1) == timedelta(seconds=10)
    assert next_delay(interval, 3) == timedelta(seconds=40)
    assert next_delay(interval, 50) == MAX_BACKOFF
    assert next_delay(timedelta(hours=1), 3) == timedelta(hours=1)


def test_poll_history_is_bounded_and_failures_reset_on_success() -> None:
    status: dict[str, object] = {}
    for i in range(25):
        status = record_poll(status, {"n": i}, failed=True)
    assert status["consecutiveFailures"] == 25
    assert len(status["recentPolls"]) == 20  # type: ignore[arg-type]
    status = record_poll(status, {"n": 99}, failed=False)
    assert status["consecutiveFailures"] == 0
    assert status["lastPoll"] == {"n": 99}

"""The replay memory: atomic record-and-answer, expiry, a bound on memory, time only as given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobwire.webhooks.replay import DEFAULT_MAX_ENTRIES, ReplayGuard

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)


def test_first_sight_is_recorded_and_the_second_is_a_replay() -> None:
    guard = ReplayGuard()
    assert guard.seen_before("k", T0, TTL) is False
    assert guard.seen_before("k", T0 + timedelta(seconds=1), TTL) is True
    assert guard.seen_before("other", T0, TTL) is False
    assert len(guard) == 2


def test_entries_expire_after_their_ttl_and_a_replay_does_not_extend_it() -> None:
    guard = ReplayGuard()
    guard.seen_before("k", T0, TTL)
    assert guard.seen_before("k", T0 + TTL - timedelta(microseconds=1), TTL) is True
    assert guard.seen_before("k", T0 + TTL, TTL) is False  # expired, and recorded afresh
    assert guard.seen_before("k", T0 + TTL + timedelta(seconds=1), TTL) is True


def test_expired_entries_are_forgotten() -> None:
    guard = ReplayGuard()
    for i in range(100):
        guard.seen_before(f"k{i}", T0, TTL)
    guard.seen_before("late", T0 + TTL, TTL)
    assert len(guard) == 1


def test_memory_is_bounded_and_the_oldest_goes_first() -> None:
    guard = ReplayGuard(max_entries=3)
    for key in ("a", "b", "c", "d"):
        assert guard.seen_before(key, T0, TTL) is False
    assert len(guard) == 3
    assert guard.seen_before("b", T0, TTL) is True
    assert guard.seen_before("a", T0, TTL) is False  # evicted, so a replay of it is no longer caught


def test_a_different_ttl_per_entry() -> None:
    guard = ReplayGuard()
    guard.seen_before("long", T0, timedelta(hours=1))
    guard.seen_before("short", T0, timedelta(seconds=1))
    later = T0 + timedelta(minutes=1)
    assert guard.seen_before("short", later, TTL) is False
    assert guard.seen_before("long", later, TTL) is True


def test_arguments_are_checked() -> None:
    assert DEFAULT_MAX_ENTRIES == 100_000
    with pytest.raises(ValueError, match="max_entries"):
        ReplayGuard(max_entries=0)
    with pytest.raises(ValueError, match="ttl"):
        ReplayGuard().seen_before("k", T0, timedelta(0))

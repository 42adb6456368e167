"""Jitter: the same offset for a schedule everywhere, spread uniformly over schedules."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from jobwire.schedules.errors import InvalidSchedule
from jobwire.schedules.jitter import jitter_offset


def test_pinned_values() -> None:
    """Pinned: a change here would move every schedule's runs after an upgrade."""
    assert jitter_offset("default", "nightly", 3600) == timedelta(seconds=2034)
    assert jitter_offset("team-a", "backup", 600) == timedelta(seconds=488)


def test_same_on_every_call() -> None:
    assert {jitter_offset("ns", "name", 900) for _ in range(20)} == {jitter_offset("ns", "name", 900)}


def test_namespace_and_name_are_not_interchangeable() -> None:
    assert jitter_offset("a", "b/c", 3600) == jitter_offset("a/b", "c", 3600)  # documented: hashed as "ns/name"
    assert jitter_offset("default", "nightly", 3600) != jitter_offset("nightly", "default", 3600)


def test_zero_means_no_jitter() -> None:
    assert jitter_offset("default", "nightly", 0) == timedelta(0)


def test_negative_is_refused() -> None:
    with pytest.raises(InvalidSchedule, match="jitter of -1s is negative"):
        jitter_offset("default", "nightly", -1)


def test_whole_seconds_within_range_and_uniform() -> None:
    offsets = [jitter_offset("default", f"schedule-{index}", 9) for index in range(5000)]
    assert all(offset == timedelta(seconds=int(offset.total_seconds())) for offset in offsets)
    buckets = Counter(int(offset.total_seconds()) for offset in offsets)
    assert set(buckets) == set(range(10))  # both ends reachable
    assert all(400 <= count <= 600 for count in buckets.values())  # expected 500 each

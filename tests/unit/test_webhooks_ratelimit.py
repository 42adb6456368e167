"""The token bucket: a burst, then the rate; the wait until the next token; time only as given."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobwire.webhooks.ratelimit import TokenBucket, retry_after


def test_a_full_bucket_allows_the_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate_per_second=2, burst=3)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.25) == pytest.approx(0.25)
    assert bucket.take(100.5) == 0.0
    assert bucket.take(100.5) == pytest.approx(0.5)


def test_refill_is_capped_at_the_burst() -> None:
    bucket = TokenBucket(rate_per_second=10, burst=2)
    bucket.take(0.0)
    bucket.take(0.0)
    assert [bucket.take(3600.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_slow_rates_wait_long() -> None:
    bucket = TokenBucket(rate_per_second=0.1, burst=1)
    assert bucket.take(5.0) == 0.0
    assert bucket.take(6.0) == pytest.approx(9.0)
    assert retry_after(bucket.take(6.0)) == 9


def test_float_rounding_does_not_lose_a_token() -> None:
    bucket = TokenBucket(rate_per_second=3, burst=1)
    bucket.take(0.0)
    assert bucket.take(1 / 3) == 0.0


def test_a_reading_from_the_past_neither_refills_nor_rewinds() -> None:
    bucket = TokenBucket(rate_per_second=1, burst=1)
    bucket.take(10.0)
    assert bucket.take(5.0) == pytest.approx(1.0)
    assert bucket.take(11.0) == 0.0


@pytest.mark.parametrize(("wait", "header"), [(0.0001, 1), (0.5, 1), (1.0, 1), (1.01, 2), (59.2, 60)])
def test_retry_after_rounds_up_to_whole_seconds(wait: float, header: int) -> None:
    assert retry_after(wait) == header


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("nan"), 1), (float("inf"), 1), (1, 0)])
def test_arguments_are_checked(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"rate_per_second|burst"):
        TokenBucket(rate, burst)


@given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=50),
    steps=st.lists(st.floats(min_value=0, max_value=5), max_size=60),
)
def test_never_more_than_burst_plus_rate_times_elapsed(rate: float, burst: int, steps: list[float]) -> None:
    bucket = TokenBucket(rate, burst)
    now = 0.0
    allowed = 0
    for step in steps:
        now += step
        wait = bucket.take(now)
        assert wait >= 0
        allowed += wait == 0.0
        assert allowed <= burst + rate * now + 1e-6

"""`jobwire schedule next`, as people and outside checks call it: the real command, a real process."""

from __future__ import annotations

import subprocess
import sys

import pytest


def jobwire(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobwire.cli.main", *args], capture_output=True, text=True)


def test_prints_the_next_instants_in_utc_with_the_dst_rule() -> None:
    result = jobwire(
        "schedule",
        "next",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "Europe/Berlin",
        "--after",
        "2026-03-28T00:00:00Z",
        "--count",
        "3",
    )
    assert result.returncode == 0, result.stderr
    # 2026-03-29 02:30 does not exist in Berlin: the fixed-time job runs once, when the clocks jump (03:00 CEST).
    assert result.stdout.splitlines() == ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]


def test_intervals_sit_on_a_fixed_grid() -> None:
    result = jobwire("schedule", "next", "--interval", "15m", "--after", "2026-01-01T10:07:00Z", "--count", "2")
    assert result.stdout.splitlines() == ["2026-01-01T10:15:00Z", "2026-01-01T10:30:00Z"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "0 0 31 2 *"], "never fires"),
        (["--cron", "61 * * * *"], "minute 61 is out of range"),
        (["--cron", "0 1 * * *", "--timezone", "Mars/Base"], "unknown time zone 'Mars/Base'"),
        (["--cron", "* * * * *", "--after", "yesterday"], "yesterday"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(args: list[str], message: str) -> None:
    result = jobwire("schedule", "next", *args)
    assert result.returncode != 0
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

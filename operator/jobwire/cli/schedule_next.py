"""`jobwire schedule next`: the next fire instants, computed by the operator's own code (jitter not applied)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from jobwire.schedules import InvalidSchedule, tick_source

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedule = commands.add_parser("schedule", help="tools for Schedules")
    actions = schedule.add_subparsers(dest="action", required=True, metavar="ACTION")
    nxt = actions.add_parser("next", help="print the next fire instants, one per line, RFC3339 in UTC")
    what = nxt.add_mutually_exclusive_group(required=True)
    what.add_argument("--cron", help="five-field cron expression or macro, e.g. '30 2 * * *' or @daily")
    what.add_argument("--interval", help="an interval such as 90s, 15m or 1h30m")
    nxt.add_argument("--timezone", default="UTC", help="IANA time zone of the cron expression (default UTC)")
    nxt.add_argument("--after", help="RFC3339 instant to count from (default: now)")
    nxt.add_argument("--count", type=int, default=5, help="how many instants (default 5)")


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"--after {text!r} needs a time zone offset or Z")
    return moment.astimezone(UTC)


def run(args: argparse.Namespace) -> int:
    try:
        if args.count < 1:
            raise ValueError("--count must be at least 1")
        after = _instant(args.after) if args.after else datetime.now(UTC)
        ticks = tick_source(cron=args.cron, interval=args.interval, time_zone=args.timezone)
        instants = ticks.after(after, args.count)
    except (InvalidSchedule, ValueError) as exc:
        print(f"jobwire: {exc}", file=sys.stderr)
        return 2
    if not instants:
        print("jobwire: the expression never fires after that instant", file=sys.stderr)
        return 2
    for instant in instants:
        print(instant.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return 0

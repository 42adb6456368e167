"""`jobwire history KIND/NAME`: the recent runs, skips, polls, firings and refusals a resource's status records.

What each kind keeps (the status models in jobwire.api):
- every producer (Schedule, Sensor, Webhook): `active` and `lastRun` (running Jobs), `recentRuns` (the last 20
  finished), `lastSkip` (the newest event that made no Job, and why), `queue` (events waiting), `totals`;
- a Sensor also `recentPolls` / `lastPoll` (each poll: Fired, Skipped or Failed, why, how many items);
- a Webhook also `counters` (requests received, accepted, duplicates, filtered, refused by reason: the receiver
  keeps no per-request record of refusals, only these counts);
- an Automation `recentFirings` (each: why, its key, its events, its action outcomes), `triggerCount`, and the
  runs of its runJob actions as every producer's.

`entries` turns a status into one list, newest first; it is pure, so it is tested without a cluster.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobwire.api.kinds import AUTOMATION, SENSOR, WEBHOOK, Kind
from jobwire.cli.common import Subcommands, add_cluster_flags, connect, get_target, parse_target, run_async
from jobwire.cli.output import age, counts, dumps, parse_time, shorten, table

__all__ = ["Entry", "add_parser", "entries", "render", "run", "summary"]

_NOT_YET = datetime.max.replace(tzinfo=UTC)
"""Where an entry without a time sorts: first, as the newest (a run whose start is not known yet)."""
EVENT_WIDTH = 40
"""Event ids longer than this are cut in the table (delivery ids can be long); `-o json` has them whole."""


@dataclass(frozen=True)
class Entry:
    """One line of history."""

    time: datetime | None
    type: str
    """run, skip, queued, poll or firing."""
    outcome: str
    reason: str = ""
    message: str = ""
    job: str = ""
    event_id: str = ""
    duration_seconds: float | None = None
    items: int | None = None

    def wire(self) -> dict[str, Any]:
        """The JSON form: camelCase, empty fields left out, the time as RFC 3339 UTC."""
        out: dict[str, Any] = {
            "time": None if self.time is None else self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "type": self.type,
            "outcome": self.outcome,
            "reason": self.reason,
            "message": self.message,
            "job": self.job,
            "eventId": self.event_id,
            "durationSeconds": self.duration_seconds,
            "items": self.items,
        }
        return {key: value for key, value in out.items() if value not in (None, "")}

    def detail(self) -> str:
        parts: list[str] = []
        if self.items is not None:
            parts.append(f"{self.items} item{'' if self.items == 1 else 's'}")
        if self.duration_seconds is not None:
            parts.append(f"{self.duration_seconds:.1f}s")
        if self.message:
            parts.append(self.message)
        return ", ".join(parts)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _runs(status: Mapping[str, Any]) -> list[Entry]:
    found: list[Entry] = []
    seen: set[str] = set()
    last = status.get("lastRun") or {}
    for run in status.get("recentRuns") or []:
        job = _text(run.get("job"))
        seen.add(job)
        found.append(
            Entry(
                time=parse_time(run.get("startTime")),
                type="run",
                outcome=_text(run.get("result")),
                job=job,
                event_id=_text(run.get("eventId")),
                duration_seconds=_number(run.get("durationSeconds")),
            )
        )
    for active in status.get("active") or []:
        job = _text(active.get("name"))
        if job in seen:
            continue
        seen.add(job)
        start = parse_time(last.get("startTime")) if last.get("job") == job else None
        found.append(Entry(time=start, type="run", outcome="Running", job=job, event_id=_text(active.get("eventId"))))
    if last and _text(last.get("job")) not in seen:
        start, end = parse_time(last.get("startTime")), parse_time(last.get("completionTime"))
        found.append(
            Entry(
                time=start or parse_time(last.get("scheduledTime")),
                type="run",
                outcome=_text(last.get("result")),
                job=_text(last.get("job")),
                event_id=_text(last.get("eventId")),
                duration_seconds=None if start is None or end is None else (end - start).total_seconds(),
            )
        )
    return found


def _skips_and_queue(status: Mapping[str, Any]) -> list[Entry]:
    found: list[Entry] = []
    skip = status.get("lastSkip") or {}
    if skip:
        found.append(
            Entry(
                time=parse_time(skip.get("time")),
                type="skip",
                outcome="Skipped",
                reason=_text(skip.get("reason")),
                message=_text(skip.get("message")),
                event_id=_text(skip.get("eventId")),
            )
        )
    for queued in status.get("queue") or []:
        found.append(
            Entry(
                time=parse_time(queued.get("time")) or parse_time(queued.get("scheduledTime")),
                type="queued",
                outcome="Queued",
                message="waiting for a free slot (concurrencyPolicy Queue)",
                event_id=_text(queued.get("id")),
            )
        )
    return found


def _polls(status: Mapping[str, Any]) -> list[Entry]:
    polls = list(status.get("recentPolls") or [])
    last = status.get("lastPoll")
    if last and last not in polls:
        polls.insert(0, last)
    return [
        Entry(
            time=parse_time(poll.get("time")),
            type="poll",
            outcome=_text(poll.get("outcome")),
            reason=_text(poll.get("reason")),
            duration_seconds=_number(poll.get("durationSeconds")),
            items=int(poll["items"]) if isinstance(poll.get("items"), int) else None,
        )
        for poll in polls
    ]


def _firings(status: Mapping[str, Any]) -> list[Entry]:
    found: list[Entry] = []
    for firing in status.get("recentFirings") or []:
        outcomes = list(firing.get("outcomes") or [])
        results = {_text(o.get("result")) for o in outcomes}
        outcome = "Failed" if "Failed" in results else "Skipped" if results == {"Skipped"} else "Succeeded"
        events = [_text(e) for e in firing.get("eventIds") or []]
        found.append(
            Entry(
                time=parse_time(firing.get("time")),
                type="firing",
                outcome=outcome if outcomes else "Triggered",
                reason=_text(firing.get("reason")),
                message="; ".join(
                    ([f"key {firing['key']}"] if firing.get("key") else [])
                    + [
                        f"{o.get('action')}: {o.get('result')}" + (f" ({o['message']})" if o.get("message") else "")
                        for o in outcomes
                    ]
                ),
                event_id=", ".join(events),
            )
        )
    return found


def entries(kind: Kind, status: Mapping[str, Any] | None) -> list[Entry]:
    """Everything the status of a `kind` records, newest first (entries without a time first of all)."""
    status = status or {}
    found = [*_runs(status), *_skips_and_queue(status)]
    if kind is SENSOR:
        found += _polls(status)
    if kind is AUTOMATION:
        found += _firings(status)
    return sorted(found, key=lambda entry: entry.time or _NOT_YET, reverse=True)


def summary(kind: Kind, status: Mapping[str, Any] | None) -> dict[str, Any]:
    """The counters that go with the history: totals; a Webhook's request counters; an Automation's firings."""
    status = status or {}
    out: dict[str, Any] = {}
    if kind is AUTOMATION and status.get("triggerCount") is not None:
        out["triggerCount"] = status["triggerCount"]
    if status.get("totals"):
        out["totals"] = dict(status["totals"])
    if kind is WEBHOOK and status.get("counters"):
        out["counters"] = dict(status["counters"])
    return out


HEADERS = ("time", "age", "type", "outcome", "reason", "job", "event", "detail")


def rows(found: Sequence[Entry], now: datetime) -> list[list[str]]:
    return [
        [
            "" if e.time is None else e.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            age(e.time, now),
            e.type,
            e.outcome,
            e.reason,
            e.job,
            shorten(e.event_id, EVENT_WIDTH) if e.event_id else "",
            e.detail(),
        ]
        for e in found
    ]


def render(kind: Kind, name: str, status: Mapping[str, Any] | None, now: datetime, limit: int = 0) -> str:
    """The table people read: the history, then the counters it cannot show line by line."""
    found = entries(kind, status)
    shown = found[:limit] if limit > 0 else found
    lines = [table(HEADERS, rows(shown, now))] if shown else [f"No runs, skips or polls recorded for {name} yet."]
    if len(shown) < len(found):
        lines.append(f"({len(found) - len(shown)} older not shown; --limit 0 shows all)")
    totals = summary(kind, status)
    if totals.get("totals"):
        lines.append(f"Totals: {counts(totals['totals'])}")
    if totals.get("counters"):
        counters = totals["counters"]
        lines.append(f"Requests: {counts(counters)}")
        if counters.get("rejected"):
            lines.append(f"Refused requests by reason: {counts(counters['rejected'])}")
    if "triggerCount" in totals:
        lines.append(f"Firings: {totals['triggerCount']}")
    return "\n".join(lines)


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "history",
        help="recent runs, skips, polls and refusals of a resource, newest first",
        description="The recent runs, skips, polls and refusals recorded in a resource's status, newest first.",
    )
    parser.add_argument("target", metavar="KIND/NAME", help="schedule/NAME, sensor/NAME, webhook/NAME, automation/NAME")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table", help="table (default) or json")
    parser.add_argument("--limit", type=int, default=0, help="show at most this many entries (default: all)")
    add_cluster_flags(parser)


async def _history(args: argparse.Namespace) -> int:
    kind, name = parse_target(args.target)
    async with connect(args) as session:
        body = await get_target(session, kind, name)
    status = body.get("status") or {}
    if args.output == "json":
        found = entries(kind, status)
        document = {
            "kind": kind.kind,
            "namespace": session.namespace,
            "name": name,
            "entries": [e.wire() for e in (found[: args.limit] if args.limit > 0 else found)],
            **summary(kind, status),
        }
        print(dumps(document))
    else:
        print(render(kind, name, status, datetime.now(UTC), args.limit))
    return 0


def run(args: argparse.Namespace) -> int:
    return run_async(_history(args))

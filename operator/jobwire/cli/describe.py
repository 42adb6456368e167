"""`jobwire describe KIND/NAME`: what a resource is, how it is doing and what happened lately, in one page.

Like `kubectl describe`, but about what matters for Jobwire: the spec's essentials (when, from where, how
authenticated, which Job), the conditions with their reasons, the last and next run or poll, the Jobs that run,
the counts, a short history (the rest is `jobwire history`), and the Kubernetes Events of the object.
`render` is pure (the resource, its Events and Jobs in; text out), so it is tested without a cluster.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from jobwire.api.kinds import AUTOMATION, SCHEDULE, SENSOR, WEBHOOK, Kind
from jobwire.api.webhook import WebhookAuth
from jobwire.cli import history
from jobwire.cli.common import Subcommands, add_cluster_flags, connect, get_target, parse_target, run_async
from jobwire.cli.output import EMPTY, age, clean, counts, parse_time, shorten, table, when
from jobwire.cli.send import describe_auth
from jobwire.jobs.history import job_result
from jobwire.jobs.render import KIND_LABEL, NAME_LABEL
from jobwire.kube.api import JSON, core_path, jobs_path
from jobwire.kube.errors import KubeError

__all__ = ["HISTORY_LINES", "add_parser", "render", "run"]

HISTORY_LINES = 5
"""History entries shown; `jobwire history` shows them all."""
EVENT_LINES = 10
"""Newest Kubernetes Events shown."""
VALUE_WIDTH = 100
"""Longer values (queries, filters, cursors) are cut."""

Pairs = Sequence[tuple[str, Any]]


def _fields(pairs: Pairs, indent: str = "  ") -> list[str]:
    """`Key:  value` lines with the values aligned; pairs whose value is None or empty are left out."""
    shown = [(key, clean(value)) for key, value in pairs if value not in (None, "", [], {})]
    if not shown:
        return []
    width = max(len(key) for key, _ in shown) + 2
    return [f"{indent}{(key + ':').ljust(width)}{value}".rstrip() for key, value in shown]


def _section(title: str, lines: Iterable[str]) -> list[str]:
    body = list(lines)
    return [f"{title}:", *body] if body else [f"{title}:  {EMPTY}"]


def _cut(value: Any) -> str:
    return shorten(clean(value), VALUE_WIDTH)


def _job_template(spec: Mapping[str, Any]) -> str:
    pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [f"{c.get('name')} ({c.get('image')})" for c in pod.get("containers") or []]
    return ", ".join(containers)


def _concurrency(spec: Mapping[str, Any]) -> str:
    policy = str(spec.get("concurrencyPolicy") or "Allow")
    limits = [f"{key} {spec[key]}" for key in ("maxActive", "maxQueued") if spec.get(key) is not None]
    return policy + (f" ({', '.join(limits)})" if limits else "")


def _producer_spec(spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    parameters = ", ".join(str(p.get("name")) for p in spec.get("parameters") or [])
    return [
        ("Concurrency", _concurrency(spec)),
        ("Suspend", str(bool(spec.get("suspend"))).lower()),
        ("Job", _job_template(spec)),
        ("Parameters", parameters),
        ("Service account", spec.get("serviceAccountName")),
        (
            "History limits",
            f"{spec.get('successfulJobsHistoryLimit', 3)} succeeded, {spec.get('failedJobsHistoryLimit', 1)} failed",
        ),
    ]


def _source(source: Mapping[str, Any]) -> tuple[str, str]:
    """(which source, its essentials) of a Sensor."""
    for name, block in source.items():
        if not isinstance(block, Mapping):
            continue
        if name == "http":
            what = f"{block.get('method', 'GET')} {block.get('url')}"
            rest = [f"{key} {block[key]}" for key in ("items", "key", "condition") if block.get(key)]
        elif name == "s3":
            what = f"s3://{block.get('bucket')}/{block.get('prefix', '')}*{block.get('suffix', '')}"
            rest = [f"endpoint {block['endpoint']}"] if block.get("endpoint") else []
        elif name == "sql":
            what = f"query {block.get('query')}"
            rest = [f"cursor column {block['cursorColumn']}"] if block.get("cursorColumn") else []
        elif name == "kubernetes":
            what = f"{block.get('kind')} ({block.get('apiVersion')})"
            rest = [f"{key} {block[key]}" for key in ("namespace", "labelSelector", "condition") if block.get(key)]
        elif name == "prometheus":
            what = f"{block.get('query')} at {block.get('url')}"
            rest = [f"condition {block['condition']}"] if block.get("condition") else []
        else:
            what, rest = "", []
        return name, "; ".join([what, *rest])
    return "", ""


def _auth(spec: Mapping[str, Any]) -> str:
    raw = spec.get("auth") or {}
    try:
        return describe_auth(WebhookAuth.model_validate(raw))
    except ValidationError:
        return clean(raw.get("type"))


def _spec_pairs(kind: Kind, spec: Mapping[str, Any]) -> list[tuple[str, Any]]:
    if kind is SCHEDULE:
        catch_up = str(spec.get("catchUp") or "Latest")
        if spec.get("maxRuns") is not None:
            catch_up += f" (maxRuns {spec['maxRuns']})"
        return [
            ("Cron", spec.get("cron")),
            ("Interval", spec.get("interval")),
            ("Time zone", spec.get("timeZone") or "UTC"),
            ("Catch-up", catch_up),
            ("Starting deadline", f"{spec['startingDeadlineSeconds']}s" if "startingDeadlineSeconds" in spec else None),
            ("Jitter", f"up to {spec['jitterSeconds']}s" if spec.get("jitterSeconds") else None),
            *_producer_spec(spec),
        ]
    if kind is SENSOR:
        source, essentials = _source(spec.get("source") or {})
        batch = spec.get("batch") or {}
        return [
            ("Interval", spec.get("interval") or "30s"),
            ("Timeout", f"{spec.get('timeoutSeconds', 10)}s"),
            ("Source", f"{source}: {_cut(essentials)}" if source else None),
            (
                "Batch",
                f"up to {batch.get('maxItems', 100)} items, waiting up to {batch.get('maxWaitSeconds', 0)}s"
                if batch
                else None,
            ),
            *_producer_spec(spec),
        ]
    if kind is WEBHOOK:
        rate = spec.get("rateLimit") or {}
        return [
            ("Auth", _auth(spec)),
            ("Methods", ", ".join(spec.get("methods") or ["POST"])),
            ("Filter", _cut(spec.get("filter"))),
            ("Event type", spec.get("eventType")),
            ("Target", f"sensor/{(spec.get('target') or {}).get('sensor')}" if spec.get("target") else None),
            ("Rate limit", f"{rate.get('requestsPerSecond')}/s, burst {rate.get('burst', 10)}" if rate else None),
            *(
                _producer_spec(spec)
                if spec.get("jobTemplate")
                else [("Suspend", str(bool(spec.get("suspend"))).lower())]
            ),
        ]
    trigger = spec.get("trigger") or {}
    match = trigger.get("match") or {}
    matching = "; ".join(
        f"{key} {', '.join(values) if isinstance(values, list) else values}" for key, values in match.items()
    )
    counting = f"{trigger.get('threshold', 1)} event(s)" + (
        f" within {trigger['within']}" if trigger.get("within") else ""
    )
    actions = [str(a.get("name") or next((key for key in a if key != "name"), "?")) for a in spec.get("actions") or []]
    return [
        ("Posture", trigger.get("posture") or "Reactive"),
        ("Match", matching),
        ("Filter", _cut(trigger.get("filter"))),
        ("Fires on", counting),
        ("For each", ", ".join(trigger.get("forEach") or [])),
        ("Cooldown", trigger.get("cooldown")),
        ("Actions", ", ".join(actions)),
        ("Suspend", str(bool(spec.get("suspend"))).lower()),
    ]


def _conditions(status: Mapping[str, Any], now: datetime) -> list[str]:
    rows = [
        [
            c.get("type"),
            c.get("status"),
            c.get("reason"),
            age(parse_time(c.get("lastTransitionTime")), now),
            c.get("message"),
        ]
        for c in status.get("conditions") or []
    ]
    return [table(("type", "status", "reason", "since", "message"), rows, indent="  ")] if rows else []


def _last_run(status: Mapping[str, Any], now: datetime) -> str:
    last = status.get("lastRun") or {}
    if not last:
        return ""
    start, end = parse_time(last.get("startTime")), parse_time(last.get("completionTime"))
    parts = [f"job/{last.get('job')} {last.get('result')}"]
    if start is not None:
        parts.append(f"started {when(last['startTime'], now)}")
    if start is not None and end is not None:
        parts.append(f"took {(end - start).total_seconds():.1f}s")
    parts.append(f"event {last.get('eventId')}")
    return ", ".join(parts)


def _jobs(jobs: Sequence[JSON] | None) -> str:
    if jobs is None:
        return ""
    states = {"running": 0, "succeeded": 0, "failed": 0}
    for job in jobs:
        result = job_result(job)
        states["running" if result is None else result.value.lower()] += 1
    return f"{len(jobs)} in the cluster: " + ", ".join(f"{n} {state}" for state, n in states.items())


def _status_pairs(kind: Kind, status: Mapping[str, Any], jobs: Sequence[JSON] | None, now: datetime) -> Pairs:
    active = status.get("active") or []
    count = max(int(status.get("activeCount") or 0), len(active))
    skip = status.get("lastSkip") or {}
    pairs: list[tuple[str, Any]] = [("Last run", _last_run(status, now))]
    if kind is SCHEDULE:
        pairs += [
            ("Last tick", when(status.get("lastScheduleTime"), now)),
            ("Next ticks", ", ".join(when(t, now) for t in status.get("nextScheduleTimes") or [])),
            ("Last success", when(status.get("lastSuccessfulTime"), now)),
        ]
    if kind is SENSOR:
        poll = status.get("lastPoll") or {}
        pairs += [
            (
                "Last poll",
                f"{when(poll.get('time'), now)}: {poll.get('outcome')}, {poll.get('items', 0)} new item(s)"
                + (f" ({poll['reason']})" if poll.get("reason") else "")
                if poll
                else None,
            ),
            ("Next poll", when(status.get("nextPollTime"), now)),
            ("Failures in a row", status.get("consecutiveFailures") or None),
            ("Cursor", _cut(status.get("cursor"))),
            ("Keys remembered", len(status.get("seenKeys") or []) or None),
            ("Items waiting", len(status.get("pendingItems") or []) or None),
            ("Events in outbox", len(status.get("outbox") or []) or None),
        ]
    if kind is WEBHOOK:
        counters = status.get("counters") or {}
        pairs += [
            ("URL", status.get("url")),
            (
                "Last event",
                f"{when(status.get('lastEventTime'), now)}, {status.get('lastEventId')}"
                if status.get("lastEventId")
                else None,
            ),
            ("Requests", counts(counters)),
            ("Refused", counts(counters.get("rejected"))),
        ]
    if kind is AUTOMATION:
        pairs += [
            ("Last fired", when(status.get("lastTriggeredTime"), now)),
            ("Firings", status.get("triggerCount")),
            (
                "Last outcomes",
                "; ".join(f"{o.get('action')}: {o.get('result')}" for o in status.get("lastOutcomes") or []),
            ),
        ]
    names = ", ".join(f"job/{a.get('name')}" for a in active)
    pairs += [
        ("Active Jobs", f"{count}" + (f": {names}" if names else "")),
        ("Jobs", _jobs(jobs)),
        ("Totals", counts(status.get("totals"))),
        (
            "Last skip",
            f"{when(skip.get('time'), now)}: {skip.get('reason')}"
            + (f": {skip['message']}" if skip.get("message") else "")
            + (f" (event {skip['eventId']})" if skip.get("eventId") else "")
            if skip
            else None,
        ),
        ("Queue", f"{len(status['queue'])} event(s) waiting" if status.get("queue") else None),
    ]
    return pairs


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if (moment := parse_time(event.get(key))) is not None:
            return moment
    return parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def _events(events: Sequence[JSON] | None, now: datetime) -> list[str]:
    if events is None:
        return ["  (could not be listed)"]
    if not events:
        return []
    newest = sorted(events, key=lambda e: _event_time(e) or datetime.min.replace(tzinfo=UTC))[-EVENT_LINES:]
    rows = []
    for event in newest:
        seen = age(_event_time(event), now)
        if int(event.get("count") or 1) > 1:
            seen += f" (x{event['count']})"
        source = (event.get("source") or {}).get("component") or event.get("reportingComponent")
        rows.append([event.get("type"), event.get("reason"), seen, source, event.get("message")])
    return [table(("type", "reason", "age", "from", "message"), rows, indent="  ")]


def render(
    kind: Kind, body: Mapping[str, Any], events: Sequence[JSON] | None, jobs: Sequence[JSON] | None, now: datetime
) -> str:
    """The page for `body` (a resource of `kind`), its Events and its Jobs (None: they could not be listed)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    labels = ", ".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items())
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    seen = None
    if observed is not None:
        seen = f"{observed} of {generation}" + (
            " (the operator has not acted on the newest spec yet)"
            if generation is not None and observed < generation
            else ""
        )
    lines = _fields(
        [
            ("Name", meta.get("name")),
            ("Namespace", meta.get("namespace")),
            ("Kind", f"{kind.kind} ({kind.api_version})"),
            ("Created", when(meta.get("creationTimestamp"), now)),
            ("Labels", labels or EMPTY),
            ("Generation seen", seen),
            ("Deleting since", when(meta.get("deletionTimestamp"), now)),
        ],
        indent="",
    )
    lines += _section("Spec", _fields(_spec_pairs(kind, spec)))
    lines += _section("Conditions", _conditions(status, now))
    lines += _section("Status", _fields(_status_pairs(kind, status, jobs, now)))
    found = history.entries(kind, status)
    title = "History"
    if len(found) > HISTORY_LINES:
        title += (
            f" (newest {HISTORY_LINES} of {len(found)}; jobwire history {kind.singular}/{meta.get('name')} for all)"
        )
    recent = found[:HISTORY_LINES]
    lines += _section(title, [table(history.HEADERS, history.rows(recent, now), indent="  ")] if recent else [])
    lines += _section("Events", _events(events, now))
    return "\n".join(lines)


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "describe",
        help="what a resource is, how it is doing, and what happened lately",
        description="The spec's essentials, conditions, last and next run or poll, Jobs, counts, recent history "
        "and Kubernetes Events of a Schedule, Sensor, Webhook or Automation.",
    )
    parser.add_argument("target", metavar="KIND/NAME", help="schedule/NAME, sensor/NAME, webhook/NAME, automation/NAME")
    add_cluster_flags(parser)


async def _list(session: Any, path: str, query: dict[str, str]) -> list[JSON] | None:
    """The items, or None when they cannot be listed (RBAC): the page still shows the rest."""
    try:
        return list((await session.kube.get(path, query)).get("items") or [])
    except KubeError:
        return None


async def _describe(args: argparse.Namespace) -> int:
    kind, name = parse_target(args.target)
    async with connect(args) as session:
        body = await get_target(session, kind, name)
        uid = (body.get("metadata") or {}).get("uid")
        selector = f"involvedObject.uid={uid}" if uid else f"involvedObject.name={name},involvedObject.kind={kind.kind}"
        events = await _list(session, core_path(session.namespace, "events"), {"fieldSelector": selector})
        jobs = await _list(
            session, jobs_path(session.namespace), {"labelSelector": f"{KIND_LABEL}={kind.kind},{NAME_LABEL}={name}"}
        )
    print(render(kind, body, events, jobs, datetime.now(UTC)))
    return 0


def run(args: argparse.Namespace) -> int:
    return run_async(_describe(args))

"""`jobwire automation test NAME --event FILE.json`: would this event fire the Automation, and do what?

A dry run through the operator's own code: the same matching, forEach keys and trigger state (started from the
Automation's checkpoint in status, so "the third failure in the window" reads as it would now), and the same
values for each action (the Job's name, the notification body, the emitted event). Nothing is run, sent or
changed. The labels matched are those of the resource that emitted the event, read from the cluster (a Job's own
labels, from the event, for Job events); `--label K=V` replaces them.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from jobwire.api.kinds import AUTOMATION, KINDS
from jobwire.cli.common import CliError, Session, Subcommands, add_cluster_flags, connect, get_target, run_async
from jobwire.events.model import JOB_FAILED, JOB_STARTED, JOB_SUCCEEDED, Event, ProducerRef
from jobwire.kube.api import jobwire_path
from jobwire.kube.errors import NotFound

if TYPE_CHECKING:
    from jobwire.automations.rule import Rule
    from jobwire.automations.trigger import TriggerState

__all__ = ["add_parser", "run"]

_PLURALS = {kind.plural for kind in KINDS}


def add_parser(commands: Subcommands) -> None:
    automation = commands.add_parser("automation", help="tools for Automations")
    actions = automation.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = actions.add_parser(
        "test", help="dry run: would this event fire the Automation, and which actions would run with which values"
    )
    test.add_argument("name", help="the Automation's name")
    test.add_argument("--event", required=True, help="a CloudEvent in structured JSON: a file, or - for stdin")
    test.add_argument("--label", action="append", default=[], help="K=V: labels of the event's emitter (repeat)")
    test.add_argument("--fresh", action="store_true", help="start from empty windows, not the checkpoint in status")
    test.add_argument("-o", "--output", choices=("text", "json"), default="text")
    add_cluster_flags(test)


def run(args: argparse.Namespace) -> int:
    return run_async(_run(args))


async def _run(args: argparse.Namespace) -> int:
    # Imported here: the CEL library takes half a second to load, and every other command would pay for it.
    from jobwire.api.automation import AutomationSpec
    from jobwire.automations.rule import Rule
    from jobwire.automations.trigger import TriggerState

    event = _read_event(args.event)
    async with connect(args) as session:
        body = await get_target(session, AUTOMATION, args.name)
        meta = body["metadata"]
        ref = ProducerRef("Automation", meta["namespace"], meta["name"], meta.get("uid", ""), meta.get("labels") or {})
        try:
            rule = Rule.of(ref, AutomationSpec.model_validate(body.get("spec") or {}))
        except (ValidationError, ValueError) as exc:
            raise CliError(f"automation/{args.name} is not valid: {exc}") from None
        labels = _parse_labels(args.label) if args.label else await _emitter_labels(session, event)
        checkpoint = None if args.fresh else (body.get("status") or {}).get("checkpoint")
        state = TriggerState.restore(rule.trigger, checkpoint)
        report = _report(rule, state, event, labels)
    if args.output == "json":
        print(json.dumps(report, indent=2))
    else:
        _print_text(report)
    return 0


def _report(rule: Rule, state: TriggerState, event: Event, labels: dict[str, str]) -> dict[str, Any]:
    from jobwire.automations.firing import Firing, plan
    from jobwire.automations.rule import consider

    now = datetime.now(UTC)
    decision = consider(rule, state, event, labels, now)
    report: dict[str, Any] = {
        "automation": f"{rule.ref.namespace}/{rule.ref.name}",
        "event": event.id,
        "suspended": rule.spec.suspend,
        "counted": decision.admitted,
        "outcome": decision.reason,
        "fires": decision.fire is not None and not rule.spec.suspend,
    }
    if decision.message:
        report["message"] = decision.message
    if decision.admitted:
        report["key"] = decision.key
        seen = state.keys.get(decision.key)
        report["window"] = {"seen": len(seen.seen) if seen else 0, "threshold": rule.trigger.threshold}
        deadline = state.next_deadline()
        if deadline is not None:
            report["nextDeadline"] = deadline.isoformat()
    if decision.fire is not None:
        firing = Firing.of(rule.ref, decision.fire)
        report["firing"] = firing.summary()
        report["actions"] = [p.wire() for p in plan(rule.spec, firing)]
    return report


def _print_text(report: dict[str, Any]) -> None:
    verdict = "fires" if report["fires"] else "does not fire"
    print(f"automation {report['automation']}: event {report['event']} {verdict} ({report['outcome']})")
    if report.get("message"):
        print(f"  {report['message']}")
    if report["suspended"]:
        print("  the Automation is suspended: nothing would run")
    if "window" in report:
        key = f" key {report['key']!r}" if report.get("key") else ""
        window = report["window"]
        print(f" {key} window: {window['seen']} of {window['threshold']} event(s)".rstrip())
    for action in report.get("actions") or []:
        values = {k: v for k, v in action.items() if k not in ("action", "type", "error")}
        problem = f"  FAILS: {action['error']}" if "error" in action else ""
        print(f"  - {action['action']} ({action['type']}): {json.dumps(values, sort_keys=True)}{problem}")


def _read_event(where: str) -> Event:
    try:
        text = sys.stdin.read() if where == "-" else Path(where).read_text()
    except OSError as exc:
        raise CliError(f"cannot read --event {where}: {exc.strerror}", code=2) from None
    try:
        return Event.from_dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise CliError(f"--event {where} is not JSON: {exc.msg} (line {exc.lineno})", code=2) from None
    except ValueError as exc:
        raise CliError(f"--event {where} is not a CloudEvent: {exc}", code=2) from None


def _parse_labels(pairs: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CliError(f"--label expects K=V, not {pair!r}", code=2)
        labels[key] = value
    return labels


async def _emitter_labels(session: Session, event: Event) -> dict[str, str]:
    """The labels the operator would match: a Job's own for Job events, else the producing resource's."""
    if event.type in (JOB_STARTED, JOB_SUCCEEDED, JOB_FAILED):
        data = event.data if isinstance(event.data, dict) else {}
        return {str(k): str(v) for k, v in (data.get("labels") or {}).items()}
    parts = event.source.strip("/").split("/")
    # /apis/jobwire.io/v1alpha1/namespaces/NS/PLURAL/NAME: a Jobwire producer; any other source has no labels here.
    if len(parts) != 7 or parts[:2] != ["apis", "jobwire.io"] or parts[3] != "namespaces" or parts[5] not in _PLURALS:
        return {}
    try:
        body = await session.kube.get(jobwire_path(parts[5], parts[4], parts[6]))
    except NotFound:
        return {}
    return dict((body.get("metadata") or {}).get("labels") or {})

"""`jobwire` — the operator and the tools people use next to it.

jobwire run                              run the operator (cluster-wide, or -n NS ... to watch some)
jobwire run schedule/NAME -n NS          run a Schedule now (sets jobwire.io/run-requested-at)
jobwire schedule next --cron EXPR ...    the next fire instants, as the operator computes them
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from dataclasses import replace

from jobwire.cli import schedule_next
from jobwire.cli.run_now import run_now
from jobwire.settings import Settings, WatchSettings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobwire", description="Turn events into Kubernetes Jobs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the operator, or run one resource now (run KIND/NAME)")
    run.add_argument("target", nargs="?", help="KIND/NAME to run now, e.g. schedule/nightly; omit to run the operator")
    run.add_argument("-n", "--namespace", action="append", default=[], help="namespace (repeat to watch several)")
    run.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    run.add_argument("--probe-port", type=int, help="port of /healthz, /readyz and /metrics")
    run.add_argument("--webhook-port", type=int, help="port of the webhook receiver")
    run.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    run.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    schedule_next.add_parser(commands)
    return parser


def _operator_settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if args.namespace and not args.all_namespaces:
        settings = replace(settings, watch=WatchSettings(namespaces=tuple(args.namespace)))
    if args.all_namespaces:
        settings = replace(settings, watch=WatchSettings())
    http = settings.http
    if args.probe_port is not None:
        http = replace(http, probe_port=args.probe_port)
    if args.webhook_port is not None:
        http = replace(http, webhook_port=args.webhook_port)
    log = settings.log
    if args.log_json:
        log = replace(log, json=True)
    if args.log_level:
        log = replace(log, level=args.log_level.upper())
    return replace(settings, http=http, log=log)


def _run_operator(args: argparse.Namespace) -> int:
    from jobwire.handlers.operator import run_operator
    from jobwire.logs import configure_logging

    settings = _operator_settings(args)
    configure_logging(settings.log)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_operator(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        if args.target is None:
            return _run_operator(args)
        return run_now(args.target, (args.namespace or ["default"])[0])
    if args.command == "schedule":
        return schedule_next.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())

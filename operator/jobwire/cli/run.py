"""`jobwire run`: the operator itself, or (`run KIND/NAME`) one run of a Schedule or Sensor now."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
from dataclasses import replace

from jobwire.cli import run_now
from jobwire.cli.common import Subcommands, add_cluster_flags
from jobwire.settings import Settings, WatchSettings

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "run",
        help="run the operator, or run one resource now (run KIND/NAME)",
        description="Without KIND/NAME: run the operator. With it: ask the operator for one run of a Schedule "
        "(or one poll of a Sensor) now, and show what it did.",
    )
    parser.add_argument(
        "target", nargs="?", help="KIND/NAME to run now, e.g. schedule/nightly; omit to run the operator"
    )
    parser.add_argument("-n", "--namespace", action="append", default=[], help="namespace (repeat to watch several)")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    parser.add_argument("--probe-port", type=int, help="port of /healthz, /readyz and /metrics")
    parser.add_argument("--webhook-port", type=int, help="port of the webhook receiver")
    parser.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="elect one leader among several replicas with a Lease (default: JOBWIRE_LEADER_ELECTION, else off; "
        "the Helm chart turns it on)",
    )
    run_now.add_arguments(parser)
    add_cluster_flags(parser, namespace=False)


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
    if args.leader_election is not None:
        settings = replace(settings, leader_election=replace(settings.leader_election, enabled=args.leader_election))
    return replace(settings, http=http, log=log)


def _usage(message: str) -> int:
    print(f"jobwire: {message}", file=sys.stderr)
    return 2


def _run_operator(args: argparse.Namespace) -> int:
    from jobwire.handlers.operator import run_operator
    from jobwire.logs import configure_logging

    if args.wait or args.timeout is not None:
        return _usage("--wait and --timeout apply to run KIND/NAME, not to the operator")
    if args.context:
        return _usage("the operator runs in the current context of its kubeconfig: --context applies to run KIND/NAME")
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # read by Kopf's login and by the operator's own client
    settings = _operator_settings(args)
    configure_logging(settings.log)
    # The operator allocates a dict per JSON object it reads (Jobs, watch events): at hundreds of requests a second
    # the default thresholds collected the young generation every 700 objects and the old ones often enough to show
    # in its p99 (benchmarks/RESULTS.md, Webhooks). Fewer, larger collections; what start-up made is never scanned.
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_operator(settings))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.target is None:
        return _run_operator(args)
    if len(args.namespace) > 1 or args.all_namespaces:
        return _usage("run KIND/NAME takes one namespace (-n NS)")
    operator_only = ("probe_port", "webhook_port", "log_level", "leader_election")
    if any(getattr(args, flag) is not None for flag in operator_only) or args.log_json:
        return _usage(
            "--probe-port, --webhook-port, --log-json, --log-level and --leader-election apply to the operator, "
            "not to run KIND/NAME"
        )
    return run_now.run(args)

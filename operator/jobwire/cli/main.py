"""`jobwire` (also `kubectl jobwire`) — the operator and the tools people use next to it.

jobwire run                              run the operator (cluster-wide, or -n NS ... to watch some)
jobwire run schedule/NAME -n NS [--wait] run a Schedule now (a Sensor: poll now), and show what it did
jobwire schedule next --cron EXPR ...    the next fire instants, as the operator computes them
jobwire history KIND/NAME -n NS          recent runs, skips, polls and refusals, newest first (-o json)
jobwire describe KIND/NAME -n NS         what a resource is, how it is doing, what happened lately
jobwire send webhook/NAME --data @f.json a request to a Webhook, signed as its auth expects
jobwire automation test NAME --event F   dry run: would this event fire it, and do what

Each command is a module with `add_parser(commands)` and `run(args) -> int`; adding one is one line in COMMANDS.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from jobwire.cli import automation_test, describe, history, run, schedule_next, send
from jobwire.cli.common import Subcommands

__all__ = ["COMMANDS", "main"]


class Command(Protocol):
    """A command module: it adds its parser (one or more names) and runs the parsed arguments to an exit code."""

    def add_parser(self, commands: Subcommands) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


COMMANDS: tuple[Command, ...] = (
    run,  # run [KIND/NAME]: the operator, or one run now (cli/run.py, cli/run_now.py)
    schedule_next,  # schedule next
    history,  # history KIND/NAME
    describe,  # describe KIND/NAME
    send,  # send webhook/NAME
    automation_test,  # automation test NAME --event FILE
)


def _parser() -> argparse.ArgumentParser:
    prog = "kubectl jobwire" if Path(sys.argv[0]).name == "kubectl-jobwire" else "jobwire"
    parser = argparse.ArgumentParser(prog=prog, description="Turn events into Kubernetes Jobs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        before = set(commands.choices)
        command.add_parser(commands)
        for name in set(commands.choices) - before:
            commands.choices[name].set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

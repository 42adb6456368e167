"""What every command that talks to the cluster shares: KIND/NAME targets, the cluster flags, one connection, errors.

Cluster flags, as kubectl spells them: `--kubeconfig` (else $KUBECONFIG, else ~/.kube/config, else the in-cluster
ServiceAccount), `--context`, and `-n/--namespace` (else the context's namespace, else `default`).
Errors are one line on stderr, `jobwire: <what is wrong>`, and a non-zero exit: 1 for a failure, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from kubernetes_asyncio import client, config

from jobwire.api.kinds import KINDS, Kind
from jobwire.kube.api import JSON, Kube, jobwire_path
from jobwire.kube.client import SERVICE_ACCOUNT_TOKEN
from jobwire.kube.errors import Forbidden, KubeError, NotFound

__all__ = [
    "CliError",
    "Session",
    "Subcommands",
    "add_cluster_flags",
    "connect",
    "get_target",
    "parse_target",
    "progress",
    "resolve_kind",
    "run_async",
]

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What `add_parser(commands)` of each command module receives."""

SERVICE_ACCOUNT_NAMESPACE = SERVICE_ACCOUNT_TOKEN.parent / "namespace"


class CliError(Exception):
    """A failure to tell the user in one line (never a traceback); `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _names(kind: Kind) -> set[str]:
    plain = {kind.singular, kind.plural, *kind.short_names}
    return plain | {f"{name}.jobwire.io" for name in (kind.singular, kind.plural)}


def resolve_kind(text: str) -> Kind:
    """A kind as kubectl accepts it: `schedule`, `schedules`, `Schedule`, `jws`, `schedules.jobwire.io`..."""
    lowered = text.lower()
    for kind in KINDS:
        if lowered in _names(kind):
            return kind
    known = ", ".join(kind.singular for kind in KINDS)
    raise CliError(f"unknown kind {text!r}: one of {known} (or their plurals and short names)", code=2)


def parse_target(target: str, allowed: Iterable[Kind] = KINDS) -> tuple[Kind, str]:
    """KIND/NAME -> (kind, name); a kind outside `allowed` is a usage error."""
    kind_text, slash, name = target.partition("/")
    allowed = tuple(allowed)
    wanted = " or ".join(f"{kind.singular}/NAME" for kind in allowed)
    if not slash or not kind_text or not name or "/" in name:
        raise CliError(f"expected {wanted}, not {target!r}", code=2)
    kind = resolve_kind(kind_text)
    if kind not in allowed:
        raise CliError(f"expected {wanted}, not {target!r}", code=2)
    return kind, name


def add_cluster_flags(parser: argparse.ArgumentParser, *, namespace: bool = True) -> None:
    group = parser.add_argument_group("cluster")
    group.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    group.add_argument("--context", help="kubeconfig context (default: its current context)")
    if namespace:
        group.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")


@dataclass(frozen=True)
class Session:
    """A connection to the API server, and the namespace the command works in."""

    kube: Kube
    namespace: str


def _in_cluster_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """With no kubeconfig named and a ServiceAccount mounted (in a Pod): its namespace ("" if unknown); else None.
    Also refuses a --kubeconfig that is not there, before the loader says it less plainly."""
    if kubeconfig is not None and not Path(kubeconfig).is_file():
        raise CliError(f"kubeconfig {kubeconfig} does not exist")
    listed = os.environ.get("KUBECONFIG")
    if kubeconfig is None and listed and not any(Path(p).is_file() for p in listed.split(os.pathsep) if p):
        raise CliError(f"KUBECONFIG={listed} names no file that exists")
    if kubeconfig or listed or context is not None or not SERVICE_ACCOUNT_TOKEN.exists():
        if not kubeconfig and not listed and not Path("~/.kube/config").expanduser().is_file():
            raise CliError("no kubeconfig: set KUBECONFIG, pass --kubeconfig, or create ~/.kube/config")
        return None
    return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() if SERVICE_ACCOUNT_NAMESPACE.exists() else ""


async def _api_client(kubeconfig: str | None, context: str | None) -> tuple[client.ApiClient, str | None]:
    """The client, and the namespace the credentials suggest (the context's, or the ServiceAccount's)."""
    configuration = client.Configuration()
    in_cluster = _in_cluster_namespace(kubeconfig, context)
    if in_cluster is not None:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.ApiClient(configuration=configuration), in_cluster or None
    path = kubeconfig or os.environ.get("KUBECONFIG")
    try:
        loader = await config.load_kube_config(
            config_file=path, context=context, client_configuration=configuration, persist_config=False
        )
    except (config.ConfigException, OSError) as exc:
        where = f" context {context!r}" if context else ""
        raise CliError(f"cannot load the kubeconfig{where}: {exc}") from None
    current: dict[str, Any] = loader.current_context or {}
    namespace = (current.get("context") or {}).get("namespace")
    return client.ApiClient(configuration=configuration), namespace


@asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[Session]:
    """A session from the cluster flags in `args` (kubeconfig, context, namespace); closed on exit."""
    api, suggested = await _api_client(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    namespace = getattr(args, "namespace", None)
    if isinstance(namespace, list):  # `run` takes -n several times (the operator watches them all)
        namespace = namespace[0] if namespace else None
    try:
        yield Session(kube=Kube(api), namespace=namespace or suggested or "default")
    finally:
        await api.close()


async def get_target(session: Session, kind: Kind, name: str) -> JSON:
    """The resource KIND/NAME in the session's namespace; a missing one is a clear CliError."""
    try:
        return await session.kube.get(jobwire_path(kind.plural, session.namespace, name))
    except NotFound:
        raise CliError(f"{kind.singular}/{name} not found in namespace {session.namespace}") from None
    except Forbidden as exc:
        raise CliError(f"not allowed to read {kind.singular}/{name}: {exc}") from None


def progress(message: str) -> None:
    """What the command waits for, on stderr: stdout stays the result, for pipes and scripts."""
    print(f"jobwire: {message}", file=sys.stderr, flush=True)


def run_async(work: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; a CliError or an API error becomes one line on stderr and the exit code."""
    try:
        return asyncio.run(work)
    except CliError as exc:
        print(f"jobwire: {exc}", file=sys.stderr)
        return exc.code
    except KubeError as exc:
        print(f"jobwire: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jobwire: interrupted", file=sys.stderr)
        return 130

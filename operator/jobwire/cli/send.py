"""`jobwire send webhook/NAME`: one request to a Webhook, built and signed as its `spec.auth` expects.

The signature comes from the operator's own code (`jobwire.webhooks.auth.sign`, the counterpart of the `verify` the
receiver runs), with the value of the Webhook's own Secret (`secretRef`), so a request that `send` makes is one the
receiver accepts — or the answer says precisely why not. The URL is `--url` (the receiver's base address) plus the
Webhook's `status.url`. The secret and the signature are never printed; only the Secret's name and key are.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from jobwire.api.kinds import WEBHOOK
from jobwire.api.webhook import AuthType, WebhookAuth, WebhookSpec
from jobwire.cli.common import (
    CliError,
    Session,
    Subcommands,
    add_cluster_flags,
    connect,
    get_target,
    parse_target,
    progress,
    run_async,
)
from jobwire.cli.output import clean, dumps
from jobwire.kube.errors import Forbidden
from jobwire.kube.secrets import MissingSecret, SecretReader
from jobwire.settings import HttpSettings
from jobwire.webhooks.auth import sign

__all__ = ["DEFAULT_URL", "add_parser", "describe_auth", "parse_headers", "read_data", "run"]

DEFAULT_URL = f"http://127.0.0.1:{HttpSettings.webhook_port}"


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "send",
        help="send a request to a Webhook, signed with its own Secret",
        description="Send one request to a Webhook, signed (or with the token) as its spec.auth expects, using "
        "the value of the Webhook's own Secret; print the receiver's answer. Exit 1 unless it is a 2xx.",
    )
    parser.add_argument("target", metavar="webhook/NAME")
    parser.add_argument("-d", "--data", help="the body: text such as '{\"a\": 1}', @FILE, or @- for stdin")
    parser.add_argument(
        "-H", "--header", action="append", default=[], metavar="NAME=VALUE", help="a header to send (repeatable)"
    )
    parser.add_argument("--content-type", default="application/json", help="default application/json")
    parser.add_argument("-X", "--method", help="default POST, or the Webhook's first method when it takes no POST")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the receiver's base URL (default {DEFAULT_URL})")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer (default 30)")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="text (default) or json")
    add_cluster_flags(parser)


def read_data(data: str | None) -> bytes:
    """The body: none, the text itself, `@FILE`'s bytes, or `@-` (stdin)."""
    if data is None:
        return b""
    if not data.startswith("@"):
        return data.encode("utf-8")
    if data == "@-":
        return sys.stdin.buffer.read()
    try:
        return Path(data[1:]).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read --data {data}: {exc.strerror or exc}", code=2) from None


def parse_headers(values: list[str]) -> list[tuple[str, str]]:
    """`NAME=VALUE` (or `NAME: VALUE`) pairs, in order."""
    headers: list[tuple[str, str]] = []
    for value in values:
        equals, colon = value.find("="), value.find(":")
        cut = min(i for i in (equals, colon) if i >= 0) if max(equals, colon) >= 0 else -1
        name = value[:cut].strip() if cut > 0 else ""
        if not name or any(c in name for c in " \t\r\n"):
            raise CliError(f"--header takes NAME=VALUE, not {value!r}", code=2)
        headers.append((name, value[cut + 1 :].strip()))
    return headers


def describe_auth(auth: WebhookAuth) -> str:
    """How the request is authenticated, by names only (never a value)."""
    if auth.type == AuthType.HMAC and auth.hmac is not None:
        ref = auth.hmac.secret_ref
        return f"hmac {auth.hmac.preset} (Secret {ref.name}, key {ref.key})"
    if auth.type == AuthType.TOKEN and auth.token is not None:
        ref = auth.token.secret_ref
        return f"token in {auth.token.header} (Secret {ref.name}, key {ref.key})"
    return "no auth"


async def _secret(session: Session, auth: WebhookAuth, name: str) -> bytes:
    block = auth.hmac if auth.type == AuthType.HMAC else auth.token if auth.type == AuthType.TOKEN else None
    if block is None:
        return b""
    ref = block.secret_ref
    where = f"webhook/{name} spec.auth.{auth.type}.secretRef"
    try:
        value = await SecretReader(session.kube).value(session.namespace, ref.name, ref.key)
    except MissingSecret as exc:
        raise CliError(f"{exc} (named by {where})") from None
    except Forbidden:
        raise CliError(f"not allowed to read Secret {session.namespace}/{ref.name} (named by {where})") from None
    if not value:
        raise CliError(f"Secret {session.namespace}/{ref.name} has an empty {ref.key!r} (named by {where})")
    return value


def _answer(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return clean(response.text)


async def _send(args: argparse.Namespace) -> int:
    _, name = parse_target(args.target, (WEBHOOK,))
    body = read_data(args.data)
    extra = parse_headers(args.header)
    async with connect(args) as session:
        webhook = await get_target(session, WEBHOOK, name)
        try:
            spec = WebhookSpec.model_validate(webhook.get("spec") or {})
        except ValidationError as exc:
            raise CliError(f"webhook/{name} has a spec that cannot be read: {exc.error_count()} error(s)") from None
        path = (webhook.get("status") or {}).get("url")
        if not path:
            raise CliError(f"webhook/{name} has no status.url yet: the operator publishes it (is it running?)")
        secret = await _secret(session, spec.auth, name)
    try:
        signature = sign(spec.auth, secret, body, datetime.now(UTC))
    except ValueError as exc:
        raise CliError(f"cannot authenticate the request: {exc}") from None
    headers = httpx.Headers({"Content-Type": args.content_type})
    for header, value in extra:
        headers[header] = value
    headers.update(signature)  # last: a --header cannot spoil the signature
    method = (args.method or ("POST" if "POST" in spec.methods or not spec.methods else spec.methods[0])).upper()
    url = args.url.rstrip("/") + path
    progress(f"{method} {url} ({describe_auth(spec.auth)}; {len(body)} bytes); waiting for the answer")
    try:
        async with httpx.AsyncClient(timeout=args.timeout) as http:
            response = await http.request(method, url, content=body, headers=headers)
    except (httpx.ConnectError, httpx.TimeoutException) as exc:
        raise CliError(
            f"no answer from the receiver at {args.url} ({type(exc).__name__}): is the operator serving webhooks "
            "there? --url sets the address"
        ) from None
    except httpx.HTTPError as exc:  # its message may quote a header: print its kind only
        raise CliError(f"the request failed: {type(exc).__name__}") from None
    answer = _answer(response)
    if args.output == "json":
        print(dumps({"status": response.status_code, "body": answer}))
    else:
        print(f"{response.status_code} {response.reason_phrase}")
        print(dumps(answer) if not isinstance(answer, str) else answer)
    if response.is_success:
        return 0
    detail = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    if isinstance(answer, dict) and answer.get("error"):
        detail = clean(f"{answer.get('reason') or ''}: {answer['error']}".lstrip(": "))
    if response.status_code == 404:
        detail += f" (is {args.url} the receiver of the operator that serves this Webhook? --url sets it)"
    print(f"jobwire: the receiver answered {response.status_code}: {detail}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    return run_async(_send(args))

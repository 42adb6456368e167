"""The Webhook's CEL filter: variables without credentials, a verdict that never raises, errors for the counters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from multidict import CIMultiDict

from jobwire.api.webhook import WebhookAuth, WebhookSpec
from jobwire.events.model import ProducerRef
from jobwire.webhooks.intake import (
    FilterOutcome,
    build_event,
    evaluate_filter,
    filter_context,
    filter_error,
    passes_filter,
)

REF = ProducerRef(kind="Webhook", namespace="team-a", name="github-push", uid="uid-1")
T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
SECRET_REF = {"name": "hook", "key": "secret"}
GITHUB = WebhookAuth.model_validate({"type": "hmac", "hmac": {"preset": "github", "secretRef": SECRET_REF}})
TOKEN = WebhookAuth.model_validate({"type": "token", "token": {"secretRef": SECRET_REF}})
SPEC = WebhookSpec.model_validate({"auth": GITHUB.wire(), "target": {"sensor": "poller"}})
HEADERS = {
    "Content-Type": "application/json",
    "X-GitHub-Event": "push",
    "X-GitHub-Delivery": "d-1",
    "X-Hub-Signature-256": "sha256=" + "ab" * 32,
    "X-Hub-Signature": "sha1=" + "cd" * 20,
    "Authorization": "Bearer proxy-token",
    "Cookie": "session=s3cr3t",
    "Proxy-Authorization": "Basic Zm9vOmJhcg==",
}
BODY = b'{"ref":"refs/heads/main","commits":[{"id":"c1"},{"id":"c2"}]}'


def context(headers: Any = None, auth: WebhookAuth = GITHUB) -> dict[str, Any]:
    request_headers = HEADERS if headers is None else headers
    event = build_event(ref=REF, spec=SPEC, method="POST", headers=request_headers, body=BODY, received_at=T0)
    return filter_context(event, request_headers, event.data, auth)


def test_context_has_body_headers_and_event() -> None:
    got = context()
    assert got["body"] == {"ref": "refs/heads/main", "commits": [{"id": "c1"}, {"id": "c2"}]}
    assert got["event"]["id"] == "delivery-d-1"
    assert got["event"]["data"] == got["body"]
    assert got["headers"] == {"content-type": "application/json", "x-github-event": "push", "x-github-delivery": "d-1"}


def test_credentials_and_cookies_never_reach_the_filter() -> None:
    headers = context()["headers"]
    for name in ("x-hub-signature-256", "x-hub-signature", "authorization", "cookie", "proxy-authorization"):
        assert name not in headers


def test_the_token_header_is_stripped_for_token_auth() -> None:
    auth = WebhookAuth.model_validate({"type": "token", "token": {"secretRef": SECRET_REF, "header": "X-Gitlab-Token"}})
    got = filter_context(
        build_event(ref=REF, spec=SPEC, method="POST", headers={}, body=b"", received_at=T0),
        CIMultiDict({"X-Gitlab-Token": "glpat-secret", "X-Gitlab-Event": "Push Hook"}),
        None,
        auth,
    )
    assert got["headers"] == {"x-gitlab-event": "Push Hook"}


@pytest.mark.parametrize(
    ("expression", "matched"),
    [
        (None, True),
        ("headers['x-github-event'] == 'push'", True),
        ("body.ref == 'refs/heads/main' && size(body.commits) == 2", True),
        ("body.ref.startsWith('refs/tags/')", False),
        ("event.type == 'jobwire.webhook.received'", True),
        ("timestamp(event.time) < timestamp('2027-01-01T00:00:00Z')", True),
        ("!('authorization' in headers) && !('x-hub-signature-256' in headers)", True),
    ],
)
def test_filters_decide(expression: str | None, matched: bool) -> None:
    ctx = context()
    assert passes_filter(expression, ctx) is matched
    assert filter_error(expression, ctx) is None
    assert evaluate_filter(expression, ctx) == FilterOutcome(matched=matched)


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("body.missing == 1", "expression `body.missing == 1`: no such key: missing"),
        ("body.ref", "filter must return a bool, got string"),
        ("size(body.commits)", "filter must return a bool, got int"),
        ("body.commits", "filter must return a bool, got list"),
        ("body", "filter must return a bool, got map"),
        ("null", "filter must return a bool, got null"),
        ("1.5", "filter must return a bool, got double"),
        ("body.ref +", None),
    ],
)
def test_a_filter_that_cannot_decide_does_not_match_and_says_why(expression: str, error: str | None) -> None:
    ctx = context()
    assert passes_filter(expression, ctx) is False
    message = filter_error(expression, ctx)
    assert message is not None
    assert "\n" not in message
    if error is not None:
        assert message == error


def test_filter_errors_never_quote_header_or_body_values() -> None:
    ctx = context({**HEADERS, "X-Api-Key": "leaky-value"}, auth=TOKEN)
    message = filter_error("headers['x-api-key'] + 1 == 2", ctx)
    assert message is not None
    assert "leaky-value" not in message

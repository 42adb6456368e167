"""Webhooks over real HTTP, against `jobwire run` on the real control plane: every response of the contract."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tests.support.builders import secret, webhook
from tests.support.kube import Cluster
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

GITHUB = {"type": "hmac", "hmac": {"preset": "github", "secretRef": {"name": "hook", "key": "secret"}}}
PUSH = json.dumps({"ref": "refs/heads/main", "after": "abc123"}).encode()


def github_signature(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def setup(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    name: str,
    auth: dict[str, Any],
    secrets: dict[str, str] | None = None,
    **spec: Any,
) -> str:
    """Apply the Secret and Webhook; return the full URL once the Webhook is Ready."""
    if secrets is not None:
        assert cluster.apply(secret("hook", namespace, **secrets)).returncode == 0
    assert cluster.apply(webhook(name, namespace, auth, **spec)).returncode == 0

    def url() -> str | None:
        status = cluster.get("webhooks.jobwire.io", name, namespace).get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        return f"{operator.webhook_url}{status['url']}" if ready and status.get("url") else None

    return eventually(url, what=f"webhook {name} to be Ready")


def job_names(cluster: Cluster, namespace: str, name: str) -> list[str]:
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={name}", "-o", "name").stdout
    return sorted(line.split("/", 1)[1] for line in out.split())


def test_a_signed_github_push_creates_its_job_before_the_202_and_a_retry_creates_nothing(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    url = setup(
        cluster,
        operator,
        namespace,
        "gh",
        GITHUB,
        {"secret": "s3cret"},
        parameters=[{"name": "GIT_REF", "expression": "event.data.ref"}],
    )
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Delivery": "d-1",
        "X-Hub-Signature-256": github_signature(b"s3cret", PUSH),
    }
    first = httpx.post(url, content=PUSH, headers=headers)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["duplicate"] is False
    assert answer["eventId"].startswith("delivery-")
    [job_name] = answer["jobs"]
    # The 202 means the Job exists already: read it straight away, no waiting.
    job = cluster.get("job", job_name, namespace)
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GIT_REF"] == "refs/heads/main"
    assert json.loads(env["JOBWIRE_EVENT"])["data"] == {"ref": "refs/heads/main", "after": "abc123"}
    assert env["JOBWIRE_EVENT_TYPE"] == "jobwire.webhook.received"

    again = httpx.post(url, content=PUSH, headers=headers)
    assert again.status_code == 200
    assert again.json() == {**answer, "duplicate": True}
    assert job_names(cluster, namespace, "gh") == [job_name]

    def counted() -> bool:
        counters = (cluster.get("webhooks.jobwire.io", "gh", namespace).get("status") or {}).get("counters") or {}
        return counters.get("accepted") == 1 and counters.get("duplicates") == 1 and counters.get("received") == 2

    eventually(counted, what="the counters in status")


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"path": "/hooks/not-a-webhook"}, 404, None),
        ({"method": "GET"}, 405, "MethodNotAllowed"),
        ({"signature": None}, 401, "MissingSignature"),
        ({"signature": "sha256=" + "0" * 64}, 401, "BadSignature"),
        ({"body": b"{not json", "signed": True}, 400, "MalformedBody"),
        ({"content_type": "image/png", "signed": True}, 415, "UnsupportedMediaType"),
        ({"body": b"x" * 2048, "signed": True}, 413, "BodyTooLarge"),
    ],
)
def test_bad_requests_get_precise_errors(
    cluster: Cluster, operator: OperatorProcess, namespace: str, change: dict[str, Any], status: int, reason: str | None
) -> None:
    url = setup(cluster, operator, namespace, "strict", GITHUB, {"secret": "k"}, maxBodyBytes=1024)
    body = change.get("body", PUSH)
    headers = {"Content-Type": change.get("content_type", "application/json")}
    signature = change.get("signature", github_signature(b"k", body))
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    target = operator.webhook_url + change["path"] if "path" in change else url
    before = responses_counted(operator, status)
    response = httpx.request(change.get("method", "POST"), target, content=body, headers=headers)
    assert response.status_code == status, response.text
    if reason:
        assert response.json()["reason"] == reason
    assert job_names(cluster, namespace, "strict") == []
    assert responses_counted(operator, status) == before + 1  # every answer is in the metrics, the 404 too


def responses_counted(operator: OperatorProcess, code: int) -> float:
    """jobwire_webhook_responses_total{code=...} as the operator's /metrics says it (0 before the first)."""
    text = httpx.get(f"{operator.probe_url}/metrics", timeout=10).text
    wanted = f'jobwire_webhook_responses_total{{code="{code}"}} '
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(wanted))


def test_rate_limit_answers_429_with_retry_after(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    url = setup(
        cluster, operator, namespace, "slow", {"type": "none"}, rateLimit={"requestsPerSecond": 0.01, "burst": 1}
    )
    assert httpx.post(url, json={"n": 1}).status_code == 202
    limited = httpx.post(url, json={"n": 2})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


def test_suspended_webhook_answers_503(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    url = setup(cluster, operator, namespace, "paused", {"type": "none"})
    assert cluster.apply(webhook("paused", namespace, {"type": "none"}, suspend=True)).returncode == 0
    response = eventually(
        lambda: r if (r := httpx.post(url, json={})).status_code == 503 else None, what="503 while suspended"
    )
    assert response.json()["reason"] == "Suspended"
    assert job_names(cluster, namespace, "paused") == []


def test_token_auth_with_rotation_and_a_secret_change_without_restart(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    auth = {
        "type": "token",
        "token": {
            "header": "X-Gitlab-Token",
            "secretRef": {"name": "hook", "key": "token"},
            "previousSecretRef": {"name": "old", "key": "token"},
        },
    }
    assert cluster.apply(secret("old", namespace, token="old-token")).returncode == 0
    url = setup(cluster, operator, namespace, "gl", auth, {"token": "new-token"})
    assert httpx.post(url, json={"a": 1}, headers={"X-Gitlab-Token": "new-token"}).status_code == 202
    assert httpx.post(url, json={"a": 2}, headers={"X-Gitlab-Token": "old-token"}).status_code == 202
    wrong = httpx.post(url, json={"a": 3}, headers={"X-Gitlab-Token": "nope"})
    assert (wrong.status_code, wrong.json()["reason"]) == (401, "BadToken")
    assert "nope" not in wrong.text
    assert cluster.apply(secret("hook", namespace, token="rotated")).returncode == 0
    assert httpx.post(url, json={"a": 4}, headers={"X-Gitlab-Token": "rotated"}).status_code == 202
    assert httpx.post(url, json={"a": 5}, headers={"X-Gitlab-Token": "new-token"}).status_code == 401


def test_bearer_token(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    auth = {"type": "token", "token": {"secretRef": {"name": "hook", "key": "token"}}}
    url = setup(cluster, operator, namespace, "bearer", auth, {"token": "t0k3n"})
    assert httpx.post(url, json={}, headers={"Authorization": "Bearer t0k3n"}).status_code == 202
    assert httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_missing_secret_makes_the_webhook_not_ready_and_requests_503(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    assert cluster.apply(webhook("nosecret", namespace, GITHUB)).returncode == 0

    def not_ready() -> dict[str, Any] | None:
        status = cluster.get("webhooks.jobwire.io", "nosecret", namespace).get("status") or {}
        return next(
            (c for c in status.get("conditions") or [] if c["type"] == "Ready" and c["status"] == "False"), None
        )

    condition = eventually(not_ready, what="Ready=False")
    assert condition["reason"] == "SecretNotFound"
    assert f"Secret {namespace}/hook not found" in condition["message"]
    status = cluster.get("webhooks.jobwire.io", "nosecret", namespace)["status"]
    response = httpx.post(
        operator.webhook_url + status["url"],
        content=PUSH,
        headers={"X-Hub-Signature-256": github_signature(b"x", PUSH)},
    )
    assert response.status_code == 503


def test_slack_and_stripe_signatures_and_replay(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    slack = {"type": "hmac", "hmac": {"preset": "slack", "secretRef": {"name": "hook", "key": "secret"}}}
    url = setup(cluster, operator, namespace, "slack", slack, {"secret": "slack-secret"})
    body = b"token=x&team_id=T1&command=%2Fdeploy&text=now"
    stamp = str(int(time.time()))
    signature = "v0=" + hmac.new(b"slack-secret", f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    accepted = httpx.post(url, content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    [job] = accepted.json()["jobs"]
    env = {
        e["name"]: e.get("value")
        for e in cluster.get("job", job, namespace)["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert json.loads(env["JOBWIRE_EVENT"])["data"]["command"] == "/deploy"
    replayed = httpx.post(url, content=body, headers=headers)
    assert (replayed.status_code, replayed.json()["reason"]) == (401, "ReplayedSignature")
    stale = str(int(time.time()) - 600)
    old = "v0=" + hmac.new(b"slack-secret", f"v0:{stale}:".encode() + body, hashlib.sha256).hexdigest()
    too_old = httpx.post(
        url, content=body, headers={**headers, "X-Slack-Request-Timestamp": stale, "X-Slack-Signature": old}
    )
    assert (too_old.status_code, too_old.json()["reason"]) == (401, "StaleTimestamp")

    stripe = {"type": "hmac", "hmac": {"preset": "stripe", "secretRef": {"name": "stripe", "key": "secret"}}}
    assert cluster.apply(secret("stripe", namespace, secret="whsec_test")).returncode == 0
    stripe_url = setup(cluster, operator, namespace, "stripe", stripe)
    payload = json.dumps({"id": "evt_1", "type": "invoice.paid"}).encode()
    t = str(int(time.time()))
    v1 = hmac.new(b"whsec_test", f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    stripe_headers = {"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={v1}"}
    assert httpx.post(stripe_url, content=payload, headers=stripe_headers).status_code == 202
    assert httpx.post(stripe_url, content=payload, headers=stripe_headers).status_code == 401


def test_cloudevents_structured_and_binary_are_taken_as_they_are(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    url = setup(cluster, operator, namespace, "ce", {"type": "none"})
    for mode, convert in (("structured", to_structured), ("binary", to_binary)):
        event = CloudEvent(
            {
                "specversion": "1.0",
                "type": "com.example.order.created",
                "source": "/shop",
                "id": f"order-{mode}",
                "datacontenttype": "application/json",
            },
            {"order": 42},
        )
        message = convert(event, JSONFormat())
        response = httpx.post(url, content=message.body, headers=dict(message.headers))
        assert response.status_code == 202, response.text
        assert response.json()["eventId"] == f"order-{mode}"
        [job] = response.json()["jobs"]
        annotations = cluster.get("job", job, namespace)["metadata"]["annotations"]
        assert annotations["jobwire.io/event-type"] == "com.example.order.created"
        assert annotations["jobwire.io/event-source"] == "/shop"
    broken = httpx.post(
        url, content=b'{"specversion": "1.0", "type": "x"}', headers={"Content-Type": "application/cloudevents+json"}
    )
    assert broken.status_code == 400
    assert "source" in broken.json()["error"] or "id" in broken.json()["error"]


def test_filter_answers_202_filtered_and_makes_no_job(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    url = setup(
        cluster,
        operator,
        namespace,
        "mainonly",
        {"type": "none"},
        filter='body.ref == "refs/heads/main" && !("authorization" in headers)',
    )
    other = httpx.post(url, json={"ref": "refs/heads/feature"}, headers={"Authorization": "Bearer x"})
    assert other.status_code == 202
    assert other.json()["filtered"] is True
    assert job_names(cluster, namespace, "mainonly") == []
    main = httpx.post(url, json={"ref": "refs/heads/main"}, headers={"Authorization": "Bearer x"})
    assert main.status_code == 202
    assert len(main.json()["jobs"]) == 1

"""Hostile input against the real receiver: random paths, methods, headers and bodies never get a 500, never
crash the operator, and do not grow its memory without bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.builders import secret, webhook
from tests.support.kube import Cluster
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

HEADER_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=30)
# What an HTTP client can send at all: printable ASCII without surrounding spaces (h11 refuses the rest).
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200).map(str.strip)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "image/png",
        "application/json; charset=latin-1",
        "",
        "multipart/form-data; boundary=x",
    ]
)
SIGNATURE_HEADERS = st.sampled_from(
    [
        "X-Hub-Signature-256",
        "Stripe-Signature",
        "X-Slack-Signature",
        "ce-specversion",
        "ce-id",
        "Authorization",
        "X-GitHub-Delivery",
    ]
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def targets(cluster: Cluster, operator: OperatorProcess, namespace: str) -> list[str]:
    """A path per auth kind, plus paths that match none."""
    assert cluster.apply(secret("hook", namespace, secret="s", token="t")).returncode == 0
    auths: dict[str, dict[str, Any]] = {
        "none": {"type": "none"},
        "gh": {"type": "hmac", "hmac": {"preset": "github", "secretRef": {"name": "hook", "key": "secret"}}},
        "slack": {"type": "hmac", "hmac": {"preset": "slack", "secretRef": {"name": "hook", "key": "secret"}}},
        "tok": {"type": "token", "token": {"secretRef": {"name": "hook", "key": "token"}}},
    }
    paths = []
    for name, auth in auths.items():
        assert (
            cluster.apply(webhook(name, namespace, auth, maxBodyBytes=2048, filter="size(headers) >= 0")).returncode
            == 0
        )

        def url(n: str = name) -> str | None:
            return (cluster.get("webhooks.jobwire.io", n, namespace).get("status") or {}).get("url")

        paths.append(eventually(url, what=f"the url of {name}"))
    return [*paths, "/hooks/", "/hooks/x/y", "/", "/metrics", "/hooks/%00", "/hooks/" + "a" * 300]


def test_hostile_requests_never_get_a_500(operator: OperatorProcess, targets: list[str]) -> None:
    assert operator.process is not None
    pid = operator.process.pid
    client = httpx.Client(base_url=operator.webhook_url, timeout=30)
    before = rss_mib(pid)
    statuses: set[int] = set()

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        path=st.sampled_from(targets),
        suffix=st.sampled_from(["", "?x=1", "/extra"]),
        method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
        content_type=CONTENT_TYPES,
        headers=st.dictionaries(st.one_of(HEADER_NAME, SIGNATURE_HEADERS), HEADER_VALUE, max_size=8),
        body=st.one_of(
            st.binary(max_size=3000),
            st.text(max_size=500).map(str.encode),
            st.just(b'{"specversion":"1.0","id":"x","source":"/s","type":"t"}'),
        ),
    )
    def send(path: str, suffix: str, method: str, content_type: str, headers: dict[str, str], body: bytes) -> None:
        all_headers = {**headers, "Content-Type": content_type} if content_type else headers
        response = client.request(method, path + suffix, content=body, headers=all_headers)
        statuses.add(response.status_code)
        assert response.status_code < 500 or response.status_code == 503, (response.status_code, response.text)
        if response.status_code == 503:
            assert response.json()["reason"] in ("NotReady", "ApiUnavailable", "Suspended", "SecretNotFound")

    send()
    assert operator.process.poll() is None, "the operator died"
    assert httpx.get(f"{operator.probe_url}/healthz").status_code == 200
    grown = rss_mib(pid) - before
    assert grown < 64, f"the operator's memory grew by {grown:.0f} MiB under hostile input"
    assert {401, 404} <= statuses

"""The generated CRDs on the real API server: accepted objects, refused objects, printer columns."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.kube import Cluster

pytestmark = pytest.mark.cluster

JOB_TEMPLATE = {
    "spec": {
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
            }
        }
    }
}

VALID: dict[str, dict[str, Any]] = {
    "Schedule": {"cron": "*/5 * * * *", "timeZone": "Europe/Berlin", "jobTemplate": JOB_TEMPLATE},
    "Sensor": {
        "interval": "30s",
        "source": {"http": {"url": "http://example.test/items", "items": "response.items", "key": "item.id"}},
        "jobTemplate": JOB_TEMPLATE,
    },
    "Webhook": {
        "auth": {"type": "hmac", "hmac": {"preset": "github", "secretRef": {"name": "gh", "key": "secret"}}},
        "jobTemplate": JOB_TEMPLATE,
    },
    "Automation": {
        "trigger": {"match": {"type": ["jobwire.job.failed"]}, "threshold": 3, "within": "10m"},
        "actions": [{"suspend": {"kind": "Schedule", "name": "nightly"}}],
    },
}

# (kind, spec, words the API server's message must contain: the field and what is wrong)
INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    ("Schedule", {"jobTemplate": JOB_TEMPLATE}, ["exactly one of cron and interval"]),
    ("Schedule", {**VALID["Schedule"], "cron": "every day"}, ["spec.cron", "should match"]),
    ("Schedule", {**VALID["Schedule"], "concurrencyPolicy": "Sometimes"}, ["spec.concurrencyPolicy", "Unsupported"]),
    ("Schedule", {**VALID["Schedule"], "jitterSeconds": 7200}, ["spec.jitterSeconds", "less than or equal to 3600"]),
    ("Schedule", {"interval": "500ms", "jobTemplate": JOB_TEMPLATE}, ["spec.interval", "at least 1s"]),
    ("Schedule", {"cron": "@daily"}, ["jobTemplate", "required"]),
    ("Schedule", {**VALID["Schedule"], "maxActive": 3, "concurrencyPolicy": "Forbid"}, ["spec.maxActive"]),
    ("Sensor", {**VALID["Sensor"], "interval": "0.5s"}, ["spec.interval", "at least 1s"]),
    ("Sensor", {**VALID["Sensor"], "source": {}}, ["spec.source", "exactly one of http, s3, sql"]),
    (
        "Sensor",
        {**VALID["Sensor"], "source": {"http": {"url": "ftp://x", "condition": "true"}}},
        ["spec.source.http.url", "should match"],
    ),
    (
        "Sensor",
        {**VALID["Sensor"], "source": {"http": {"url": "http://x", "items": "response", "condition": "true"}}},
        ["spec.source.http", "exactly one of items and condition"],
    ),
    ("Webhook", {"jobTemplate": JOB_TEMPLATE}, ["auth", "required"]),
    ("Webhook", {**VALID["Webhook"], "auth": {"type": "hmac"}}, ["spec.auth.hmac", "type hmac needs the hmac block"]),
    ("Webhook", {**VALID["Webhook"], "auth": {"type": "basic"}}, ["spec.auth.type", "Unsupported"]),
    ("Webhook", {**VALID["Webhook"], "maxBodyBytes": 0}, ["spec.maxBodyBytes", "greater than or equal to 1"]),
    (
        "Automation",
        {**VALID["Automation"], "trigger": {"match": {}, "posture": "Proactive", "within": "5s"}},
        ["spec.trigger.within", "at least 10s"],
    ),
    ("Automation", {**VALID["Automation"], "actions": []}, ["spec.actions", "at least 1"]),
    (
        "Automation",
        {
            **VALID["Automation"],
            "actions": [{"notify": {"urlSecretRef": {"name": "s", "key": "u"}}, "emit": {"type": "x"}}],
        },
        ["spec.actions[0]", "exactly one of runJob, notify"],
    ),
    (
        "Automation",
        {**VALID["Automation"], "actions": [{"suspend": {"kind": "Deployment", "name": "x"}}]},
        ["spec.actions[0].suspend.kind", "should match"],
    ),
]


def manifest(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_valid_object_of_each_kind_is_accepted(cluster: Cluster, namespace: str, kind: str) -> None:
    result = cluster.apply(manifest(kind, f"valid-{kind.lower()}", namespace, VALID[kind]))
    assert result.returncode == 0, result.stderr
    stored = json.loads(
        cluster.kubectl(
            "get", kind.lower() + ".jobwire.io", f"valid-{kind.lower()}", "-n", namespace, "-o", "json"
        ).stdout
    )
    assert stored["spec"]["suspend"] is False or kind == "Automation"  # defaults come from the schema


@pytest.mark.parametrize(("kind", "spec", "words"), INVALID, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(INVALID)])
def test_an_invalid_object_is_refused_naming_the_field(
    cluster: Cluster, namespace: str, kind: str, spec: dict[str, Any], words: list[str]
) -> None:
    result = cluster.apply(manifest(kind, "invalid", namespace, spec))
    assert result.returncode != 0, f"accepted an invalid {kind}: {spec}"
    for word in words:
        assert word in result.stderr, f"{word!r} not in: {result.stderr}"


def test_get_jobwire_lists_all_four_kinds_with_their_columns(cluster: Cluster, namespace: str) -> None:
    for kind, spec in VALID.items():
        assert cluster.apply(manifest(kind, f"listed-{kind.lower()}", namespace, spec)).returncode == 0
    out = cluster.kubectl("get", "jobwire", "-A").stdout
    for kind in VALID:
        assert f"{kind.lower()}.jobwire.io/listed-{kind.lower()}" in out
    schedules = cluster.kubectl("get", "jws", "-n", namespace).stdout.splitlines()[0].split()
    assert schedules == ["NAME", "CRON", "TZ", "SUSPENDED", "LAST", "NEXT", "ACTIVE", "READY", "AGE"]

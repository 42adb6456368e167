"""Manifests the tests apply, built the way a user would write them."""

from __future__ import annotations

from typing import Any

from jobwire.dev.cluster import FAKE_OUTCOME_ANNOTATION

__all__ = ["job_template", "schedule", "secret", "webhook"]


def job_template(outcome: str | None = None, *, containers: int = 1) -> dict[str, Any]:
    """A Job template whose Pods succeed (default), fail ("fail") or keep running ("hang") on the fake node."""
    pod_meta = {"annotations": {FAKE_OUTCOME_ANNOTATION: outcome}} if outcome else {}
    return {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": pod_meta,
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": f"c{i}", "image": "busybox:1.36", "command": ["true"]} for i in range(containers)
                    ],
                },
            },
        }
    }


def schedule(
    name: str,
    namespace: str,
    *,
    cron: str | None = None,
    interval: str | None = None,
    outcome: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"jobTemplate": job_template(outcome), **spec}
    if cron is not None:
        body["cron"] = cron
    if interval is not None:
        body["interval"] = interval
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Schedule",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def webhook(name: str, namespace: str, auth: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"auth": auth, "jobTemplate": job_template(), **spec}
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Webhook",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def secret(name: str, namespace: str, **values: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": values,
    }

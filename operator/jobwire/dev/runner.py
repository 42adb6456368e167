"""The identity Jobs are created as: a ServiceAccount `jobwire-runner` in each namespace, bound to the ClusterRole
`jobwire-runner` (exactly what creating and cleaning up Jobwire's Jobs takes).

The operator impersonates it (`spec.serviceAccountName` names another), so a namespace that has no such binding
gets no Job through Jobwire. The chart ships the same ClusterRole (a test checks they agree); this module gives
the manifests to `make run` (for the namespace `default`) and to the tests (for each test namespace).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["RUNNER", "RUNNER_RULES", "binding", "cluster_role", "manifests"]

RUNNER = "jobwire-runner"
RUNNER_RULES: list[dict[str, Any]] = [
    # One Job per event (and a server-side dry run when a resource is loaded); deleted for Replace and history limits.
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]},
    # An event too large for an env var travels in a ConfigMap owned by its Job.
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
]


def cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": RUNNER},
        "rules": RUNNER_RULES,
    }


def binding(namespace: str, service_account: str = RUNNER) -> list[dict[str, Any]]:
    """The ServiceAccount and its RoleBinding to the runner ClusterRole, in `namespace`."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": service_account, "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": service_account, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RUNNER},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
        },
    ]


def manifests(namespaces: Sequence[str]) -> dict[str, Any]:
    """A List with the ClusterRole and a binding in each namespace, for `kubectl apply -f -`."""
    items = [cluster_role(), *(item for namespace in namespaces for item in binding(namespace))]
    return {"apiVersion": "v1", "kind": "List", "items": items}

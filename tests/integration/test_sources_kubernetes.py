"""The Kubernetes source against the real API server of the test cluster."""

from __future__ import annotations

from typing import Any

import pytest

from jobwire.api.sensor import KubernetesSource
from jobwire.kube.api import Kube
from jobwire.sources.base import PollContext, SourceError
from jobwire.sources.kubernetes import KubernetesPoller
from tests.support.kube import Cluster
from tests.support.servers import kube, poll_context

pytestmark = pytest.mark.cluster
__all__ = ["kube"]  # fixtures used by this module


def config_map(name: str, namespace: str, state: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"state": state},
    }


def apply(cluster: Cluster, *manifests: dict[str, Any]) -> None:
    result = cluster.apply(*manifests)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def context(kube: Kube, namespace: str) -> PollContext:
    return poll_context(kube, namespace)


async def test_objects_for_which_the_condition_holds_are_items_keyed_by_uid_and_version(
    cluster: Cluster, namespace: str, context: PollContext
) -> None:
    apply(
        cluster,
        config_map("a", namespace, "ready", app="etl"),
        config_map("b", namespace, "waiting", app="etl"),
        config_map("c", namespace, "ready", app="other"),
    )
    source = KubernetesPoller(
        KubernetesSource(
            api_version="v1", kind="ConfigMap", label_selector="app=etl", condition="object.data.state == 'ready'"
        )
    )

    first = await source.poll(None, context)

    assert [item.data["metadata"]["name"] for item in first.items] == ["a"]
    stored = cluster.get("configmap", "a", namespace)["metadata"]
    assert first.items[0].key == f"{stored['uid']}:{stored['resourceVersion']}"
    data = first.items[0].data
    assert data["apiVersion"] == "v1"
    assert data["kind"] == "ConfigMap"
    assert "managedFields" not in data["metadata"]
    assert data["metadata"]["labels"] == {"app": "etl"}
    assert first.cursor is None
    assert first.condition is None

    assert (await source.poll(None, context)).items == first.items  # unchanged object, same key

    apply(cluster, config_map("b", namespace, "ready", app="etl"))
    both = await source.poll(None, context)
    assert sorted(item.data["metadata"]["name"] for item in both.items) == ["a", "b"]


async def test_a_key_expression_and_every_page_of_a_long_list(
    cluster: Cluster, namespace: str, context: PollContext
) -> None:
    apply(cluster, *(config_map(f"cm-{index}", namespace, "ready", batch="yes") for index in range(5)))
    source = KubernetesPoller(
        KubernetesSource(api_version="v1", kind="ConfigMap", label_selector="batch=yes", key="object.metadata.name"),
        page_size=2,
    )

    result = await source.poll(None, context)

    assert sorted(item.key for item in result.items) == [f"cm-{index}" for index in range(5)]


async def test_a_grouped_kind_is_found_by_discovery_in_another_namespace(
    cluster: Cluster, namespace: str, kube: Kube
) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    apply(cluster, role)
    source = KubernetesPoller(
        KubernetesSource(api_version="rbac.authorization.k8s.io/v1", kind="Role", namespace=namespace)
    )

    result = await source.poll(None, poll_context(kube, "default"))

    assert [item.data["metadata"]["name"] for item in result.items] == ["reader"]
    assert "status" not in result.items[0].data


async def test_a_cluster_scoped_kind_ignores_the_namespace(namespace: str, context: PollContext) -> None:
    source = KubernetesPoller(
        KubernetesSource(
            api_version="v1",
            kind="Namespace",
            label_selector=f"kubernetes.io/metadata.name={namespace}",
            condition="object.status.phase == 'Active'",
        )
    )

    result = await source.poll(None, context)

    assert [item.data["metadata"]["name"] for item in result.items] == [namespace]
    assert result.items[0].data["status"]["phase"] == "Active"


async def test_an_unknown_kind_or_version_is_named(context: PollContext) -> None:
    for api_version, kind in (("v1", "Gadget"), ("gadgets.example.com/v1", "Gadget")):
        with pytest.raises(SourceError) as failure:
            await KubernetesPoller(KubernetesSource(api_version=api_version, kind=kind)).poll(None, context)
        assert failure.value.reason == "UnknownKind"
        assert api_version in failure.value.message


async def test_a_failing_condition_is_an_expression_failure(
    cluster: Cluster, namespace: str, context: PollContext
) -> None:
    apply(cluster, config_map("x", namespace, "ready"))
    source = KubernetesPoller(KubernetesSource(api_version="v1", kind="ConfigMap", condition="object.data.missing"))

    with pytest.raises(SourceError) as failure:
        await source.poll(None, context)

    assert failure.value.reason == "ExpressionFailed"
    assert "object.data.missing" in failure.value.message


async def test_no_answer_within_the_timeout_is_a_timeout(kube: Kube, namespace: str) -> None:
    source = KubernetesPoller(KubernetesSource(api_version="v1", kind="ConfigMap"))

    with pytest.raises(SourceError) as failure:
        await source.poll(None, poll_context(kube, namespace, timeout=1e-6))

    assert failure.value.reason == "Timeout"

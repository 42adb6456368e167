"""The operator's plain-JSON API client (kube/api.py) on the real API server: bodies encoded as JSON, query
parameters, content types, impersonation, an answer of metadata alone, and refusals translated."""

from __future__ import annotations

import pytest

from jobwire.kube.api import JSON, Kube, jobs_path
from jobwire.kube.errors import AlreadyExists, Forbidden, NotFound
from tests.support.servers import kube

pytestmark = pytest.mark.cluster
__all__ = ["kube"]  # fixtures used by this module


def job(name: str) -> JSON:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app": "kube-api-test"}, "annotations": {"note": "ünïcode ✓"}},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox", "env": [{"name": "N", "value": "1.5"}]}],
                }
            },
        },
    }


async def test_a_create_answered_with_metadata_alone_makes_the_whole_job(kube: Kube, namespace: str) -> None:
    answer = await kube.create(jobs_path(namespace), job("meta"), metadata_only=True)

    assert answer["kind"] == "PartialObjectMetadata"
    assert set(answer) == {"kind", "apiVersion", "metadata"}
    assert answer["metadata"]["name"] == "meta"
    assert answer["metadata"]["uid"]
    stored = await kube.get(jobs_path(namespace, "meta"))
    assert stored["metadata"]["uid"] == answer["metadata"]["uid"]
    assert stored["metadata"]["annotations"]["note"] == "ünïcode ✓"
    assert stored["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "N", "value": "1.5"}]


async def test_a_whole_answer_a_dry_run_a_merge_patch_and_refusals(kube: Kube, namespace: str) -> None:
    whole = await kube.create(jobs_path(namespace), job("whole"))
    assert whole["kind"] == "Job"
    assert whole["spec"]["suspend"] is True

    await kube.create(jobs_path(namespace), job("dry"), dry_run=True)  # the dryRun query parameter is sent
    with pytest.raises(NotFound):
        await kube.get(jobs_path(namespace, "dry"))

    patched = await kube.merge_patch(jobs_path(namespace, "whole"), {"metadata": {"labels": {"patched": "yes"}}})
    assert patched["metadata"]["labels"] == {"app": "kube-api-test", "patched": "yes"}

    listed = await kube.get(jobs_path(namespace), {"labelSelector": "patched=yes"})
    assert [item["metadata"]["name"] for item in listed["items"]] == ["whole"]

    with pytest.raises(AlreadyExists):
        await kube.create(jobs_path(namespace), job("whole"), metadata_only=True)
    with pytest.raises(Forbidden):  # impersonated: a user with no permissions here
        await kube.create(jobs_path(namespace), job("nobody"), as_user="nobody-at-all")

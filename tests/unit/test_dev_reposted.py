"""`as_posted`: a created Job back to what a client POSTs, the returned object left as it was."""

from __future__ import annotations

from typing import Any

from jobwire.dev.reposted import as_posted


def created_job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "nightly-abc",
            "namespace": "data",
            "uid": "0d9c",
            "resourceVersion": "812",
            "creationTimestamp": "2026-12-07T05:00:00Z",
            "generation": 1,
            "managedFields": [{"manager": "jobwire"}],
            "labels": {"jobwire.io/kind": "Webhook"},
            "annotations": {"jobwire.io/event-id": "e-1"},
        },
        "spec": {
            "suspend": True,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "0d9c"}},
            "template": {
                "metadata": {
                    "labels": {
                        "batch.kubernetes.io/controller-uid": "0d9c",
                        "controller-uid": "0d9c",
                        "batch.kubernetes.io/job-name": "nightly-abc",
                        "job-name": "nightly-abc",
                        "team": "data",
                    }
                },
                "spec": {"containers": [{"name": "main", "image": "busybox"}], "restartPolicy": "Never"},
            },
        },
        "status": {"active": 0},
    }


def test_what_the_api_server_set_is_removed_and_the_rest_kept() -> None:
    job = created_job()
    posted = as_posted(job)
    assert posted["metadata"] == {
        "name": "nightly-abc",
        "namespace": "data",
        "labels": {"jobwire.io/kind": "Webhook"},
        "annotations": {"jobwire.io/event-id": "e-1"},
    }
    assert "status" not in posted
    assert posted["spec"] == {
        "suspend": True,
        "template": {
            "metadata": {"labels": {"team": "data"}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}], "restartPolicy": "Never"},
        },
    }
    assert job == created_job(), "the Job passed in was changed"

"""Kopf's settings as the operator gives them: what its watches ask the API server for."""

from __future__ import annotations

from kopf import Resource

from jobwire.handlers.operator import kopf_settings
from jobwire.settings import Settings


def test_the_job_watch_asks_the_api_server_for_jobwires_jobs_only() -> None:
    selectors = kopf_settings(Settings.from_env({})).watching.label_selectors

    assert selectors.collect(Resource("batch", "v1", "jobs")) == ["jobwire.io/kind"]
    assert selectors.collect(Resource("jobwire.io", "v1alpha1", "webhooks")) == []
    assert selectors.collect(Resource("", "v1", "pods")) == []


def test_workers_leave_room_for_thousands_of_new_jobs_a_second() -> None:
    """Each object's worker holds one of the `worker_limit` places until it has idled for `idle_timeout`: the
    quotient is how many objects a second Kopf can take on at most (Kopf's default idle of 5 s gave 51)."""
    queueing = kopf_settings(Settings.from_env({})).queueing

    assert queueing.worker_limit is not None
    assert queueing.worker_limit / queueing.idle_timeout >= 2000

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

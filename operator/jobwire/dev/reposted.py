"""A Job the API server returned, as a client would POST it again: for the benchmark's floor (the same Jobs the
webhook made, created directly) and for the tests that make a Job as a follower's receiver makes it."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["as_posted"]

SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")
"""The metadata the API server sets on a created object; a POST that carries them is refused or ignored."""


def as_posted(job: dict[str, Any]) -> dict[str, Any]:
    """A copy of `job` without what the API server or the Job controller set: the metadata above, the status, the
    selector and the Pod template's labels that follow from it (a POST that carries them is refused)."""
    posted = copy.deepcopy(job)
    metadata = posted["metadata"]
    for field in SERVER_SET:
        metadata.pop(field, None)
    posted.pop("status", None)
    posted["spec"].pop("selector", None)
    pod_labels = posted["spec"]["template"]["metadata"]["labels"]
    for label in [label for label in pod_labels if label.endswith(("controller-uid", "job-name"))]:
        del pod_labels[label]
    return posted

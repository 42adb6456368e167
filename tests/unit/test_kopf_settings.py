"""Kopf's settings as the operator gives them."""

from __future__ import annotations

from jobwire.handlers.operator import kopf_settings
from jobwire.settings import Settings


def test_workers_leave_room_for_thousands_of_new_objects_a_second() -> None:
    """Each object's worker holds one of the `worker_limit` places until it has idled for `idle_timeout`: the
    quotient is how many objects a second Kopf can take on at most (Kopf's default idle of 5 s gave 51)."""
    queueing = kopf_settings(Settings.from_env({})).queueing

    assert queueing.worker_limit is not None
    assert queueing.worker_limit / queueing.idle_timeout >= 2000

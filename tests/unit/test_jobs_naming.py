"""Job names: deterministic, valid DNS labels, different for every (kind, namespace, name, event id).

The exact names are pinned: changing the scheme would make every operator upgrade create each pending run's Job a
second time under its new name.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobwire.events.model import ProducerRef
from jobwire.jobs.naming import HASH_LENGTH, MAX_NAME_LENGTH, job_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
TICK = "tick-20260329T010000Z"


def ref(name: str = "nightly-backup", kind: str = "Schedule", namespace: str = "default") -> ProducerRef:
    return ProducerRef(kind=kind, namespace=namespace, name=name, uid="uid-1")


def test_the_name_is_pinned() -> None:
    assert job_name(ref(), TICK) == "nightly-backup-q36m4vbp5d"


def test_the_suffix_is_base32_of_sha256_over_every_input() -> None:
    digest = hashlib.sha256(f"Schedule/default/nightly-backup/{TICK}".encode()).digest()
    assert job_name(ref(), TICK).endswith("-" + base64.b32encode(digest).decode().lower()[:HASH_LENGTH])


def test_the_same_inputs_give_the_same_name_and_the_uid_does_not_matter() -> None:
    again = ProducerRef(kind="Schedule", namespace="default", name="nightly-backup", uid="another-uid")
    assert job_name(ref(), TICK) == job_name(again, TICK)


@pytest.mark.parametrize(
    "other",
    [
        (ref(kind="Webhook"), TICK),
        (ref(namespace="prod"), TICK),
        (ref(name="nightly-backup2"), TICK),
        (ref(), "tick-20260329T010100Z"),
    ],
)
def test_any_input_that_differs_gives_another_name(other: tuple[ProducerRef, str]) -> None:
    assert job_name(*other) != job_name(ref(), TICK)


def test_a_schedule_and_a_webhook_of_the_same_name_share_the_prefix_but_not_the_name() -> None:
    schedule, webhook = job_name(ref(kind="Schedule"), TICK), job_name(ref(kind="Webhook"), TICK)
    assert schedule.rsplit("-", 1)[0] == webhook.rsplit("-", 1)[0] == "nightly-backup"
    assert schedule != webhook


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("Nightly.Backup_v2", "nightly-backup-v2"),
        ("db.prod.example.com", "db-prod-example-com"),
        ("a..b--c", "a-b-c"),
        ("-edge-", "edge"),
        ("ünïcode", "n-code"),
        ("...", "schedule"),  # nothing readable left: the kind stands in
    ],
)
def test_the_prefix_is_the_sanitised_name(name: str, prefix: str) -> None:
    produced = job_name(ref(name=name), TICK)
    assert produced.rsplit("-", 1)[0] == prefix
    assert DNS_LABEL.match(produced)


def test_a_long_name_is_truncated_to_fit_63_characters() -> None:
    produced = job_name(ref(name="a" * 253), TICK)
    assert len(produced) == MAX_NAME_LENGTH
    assert produced.startswith("a" * 52 + "-")


def test_truncation_never_leaves_a_dash_before_the_suffix() -> None:
    produced = job_name(ref(name="a" * 51 + "-b" + "c" * 10), TICK)
    assert produced.startswith("a" * 51 + "-")
    assert len(produced) == 51 + 1 + HASH_LENGTH
    assert DNS_LABEL.match(produced)


def test_names_that_differ_only_after_truncation_still_differ() -> None:
    assert job_name(ref(name="x" * 60 + "a"), TICK) != job_name(ref(name="x" * 60 + "b"), TICK)


def test_nothing_readable_anywhere_falls_back_to_job() -> None:
    assert job_name(ref(name="...", kind="__"), TICK).startswith("job-")


@given(st.text(), st.text(), st.text(), st.text())
def test_every_input_gives_a_valid_dns_label(kind: str, namespace: str, name: str, event_id: str) -> None:
    produced = job_name(ProducerRef(kind=kind, namespace=namespace, name=name, uid=""), event_id)
    assert len(produced) <= MAX_NAME_LENGTH
    assert DNS_LABEL.match(produced), produced
    assert produced == job_name(ProducerRef(kind=kind, namespace=namespace, name=name, uid="x"), event_id)


@given(st.lists(st.text(), min_size=2, max_size=50, unique=True))
def test_distinct_event_ids_give_distinct_names(event_ids: list[str]) -> None:
    names = {job_name(ref(), event_id) for event_id in event_ids}
    assert len(names) == len(event_ids)

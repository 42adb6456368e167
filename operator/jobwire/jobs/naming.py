"""The name of the Job an event causes: the idempotency key of the whole pipeline.

The name is a pure function of (producer kind, namespace, name, event id). Creating the Job for an event twice —
after a retry, a restart or a failover — hits AlreadyExists instead of running it twice, as CronJob does with
`<name>-<unix minutes>`. Hashing the event id keeps any id (a URL, a delivery UUID, an S3 key) inside a DNS label;
the readable prefix is only for people: uniqueness comes from the hash, which covers every input in full.
"""

from __future__ import annotations

import base64
import hashlib
import re

from jobwire.events.model import ProducerRef

__all__ = ["HASH_LENGTH", "MAX_NAME_LENGTH", "job_name"]

MAX_NAME_LENGTH = 63
"""A DNS-1123 label: Kubernetes copies a Job's name into the `batch.kubernetes.io/job-name` label of its Pods."""
HASH_LENGTH = 10
"""Lowercase base32 characters of SHA-256: 50 bits, so a collision among a producer's runs is beyond concern."""

_PREFIX_LENGTH = MAX_NAME_LENGTH - 1 - HASH_LENGTH
_NOT_LABEL_CHARACTERS = re.compile(r"[^a-z0-9]+")


def job_name(producer: ProducerRef, event_id: str) -> str:
    """`<readable prefix>-<hash>`, a valid DNS-1123 label; the same inputs always give the same name."""
    return f"{_readable_prefix(producer)}-{_run_hash(producer, event_id)}"


def _run_hash(producer: ProducerRef, event_id: str) -> str:
    # No part but the last can contain "/" (Kubernetes names and kinds cannot), so the key is unambiguous.
    key = f"{producer.kind}/{producer.namespace}/{producer.name}/{event_id}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    # Base32 turns each 5 bytes into 8 characters, so the first 10 characters come from the first 10 bytes alone:
    # the same name as encoding the whole digest, at a third of the cost (base64.b32encode is Python code).
    return base64.b32encode(digest[:10]).decode("ascii").lower()[:HASH_LENGTH]


def _readable_prefix(producer: ProducerRef) -> str:
    """The producer's name as a label fragment (dots and other characters become dashes), shortened to fit."""
    for candidate in (producer.name, producer.kind):
        prefix = _NOT_LABEL_CHARACTERS.sub("-", candidate.lower()).strip("-")[:_PREFIX_LENGTH].rstrip("-")
        if prefix:
            return prefix
    return "job"

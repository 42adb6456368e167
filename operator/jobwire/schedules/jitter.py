"""Jitter: a fixed delay per schedule, so that many schedules on the same tick do not start Jobs all at once.

The delay comes from sha256 of "namespace/name" alone, so every run, replica and machine agrees on it and a
restart never moves a schedule's runs. The caller adds it to each scheduled instant.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from jobwire.schedules.errors import InvalidSchedule

__all__ = ["jitter_offset"]


def jitter_offset(namespace: str, name: str, max_seconds: int) -> timedelta:
    """Whole seconds in [0, max_seconds], spread uniformly over schedules and the same for one schedule forever.

    64 bits of the digest reduced modulo max_seconds + 1: the bias is below 2**-40 for any jitter the CRD allows.
    """
    if max_seconds < 0:
        raise InvalidSchedule(f"jitter of {max_seconds}s is negative")
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % (max_seconds + 1))

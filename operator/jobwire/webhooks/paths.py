"""Each Webhook's URL path: unguessable, stable across restarts and the same on every replica, with no state.

It is derived from the Webhook's uid (random, 122 bits, assigned by the API server): the same object always has
the same path; deleting and recreating it gives a new one, as a new secret would.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["PATH_PREFIX", "webhook_path", "webhook_token"]

PATH_PREFIX = "/hooks/"


def webhook_token(uid: str) -> str:
    digest = hashlib.sha256(b"jobwire-webhook-path\x00" + uid.encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=").lower()[:32]


def webhook_path(uid: str) -> str:
    return PATH_PREFIX + webhook_token(uid)

"""The two errors of the webhook intake: each carries the answer for the sender and a reason for the counters.

    Exception
    ├── AuthFailure    the request does not prove that it comes from the sender (the receiver answers 401)
    └── IntakeError    the request is authentic but cannot become an event (400; 415 for a media type)

Messages are one line and never quote a secret, a token, a received signature or the body: they go back to the
sender, into logs and into the Webhook's status. They may name a header.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["AuthFailure", "AuthReason", "IntakeError", "IntakeReason"]

AuthReason = Literal[
    "MissingSignature",
    "BadSignature",
    "StaleTimestamp",
    "ReplayedSignature",
    "MissingToken",
    "BadToken",
    "MalformedSignature",
]
IntakeReason = Literal["MalformedBody", "MalformedCloudEvent", "UnsupportedMediaType"]


def _one_line(message: str) -> str:
    return " ".join(message.split())


class AuthFailure(Exception):
    """A request that failed authentication; `reason` is the counter's key, `message` one safe line."""

    def __init__(self, reason: AuthReason, message: str) -> None:
        self.reason: AuthReason = reason
        self.message = _one_line(message)
        super().__init__(self.message)


class IntakeError(Exception):
    """An authentic request that is not an event: `status` is 400 or 415, `reason` the counter's key."""

    def __init__(self, status: Literal[400, 415], reason: IntakeReason, message: str) -> None:
        self.status: Literal[400, 415] = status
        self.reason: IntakeReason = reason
        self.message = _one_line(message)
        super().__init__(self.message)

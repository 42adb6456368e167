"""Webhook: an authenticated URL; a 2xx answer means the Jobs exist."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from jobwire.api.base import ApiModel, rule, rules
from jobwire.api.common import PRODUCER_RULES, ProducerSpec, ProducerStatus, ResourceName, SecretKeyRef

__all__ = [
    "AuthType",
    "ForwardedEvent",
    "HmacAuth",
    "HmacPreset",
    "RateLimit",
    "TokenAuth",
    "WebhookAuth",
    "WebhookCounters",
    "WebhookSpec",
    "WebhookStatus",
    "WebhookTarget",
]


class AuthType(StrEnum):
    NONE = "none"
    HMAC = "hmac"
    TOKEN = "token"  # noqa: S105 - the name of an auth type, not a secret


class HmacPreset(StrEnum):
    """Signature schemes of well-known senders; `generic` uses header/algorithm/encoding/prefix as given."""

    GENERIC = "generic"
    GITHUB = "github"
    STRIPE = "stripe"
    SLACK = "slack"


class HmacAuth(ApiModel):
    """An HMAC signature over the body. Presets fix their own scheme; `generic` takes header, algorithm, encoding
    and prefix from here."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            rule(
                "self.preset == 'generic' || (!has(self.header) && !has(self.prefix))",
                "header and prefix apply only to preset generic: the other presets fix their own scheme",
            )
        )
    )

    preset: HmacPreset = HmacPreset.GENERIC
    secret_ref: SecretKeyRef
    previous_secret_ref: SecretKeyRef | None = Field(
        default=None, description="A second secret accepted too, for rotation."
    )
    header: str | None = Field(default=None, max_length=256, description="Default from the preset.")
    algorithm: str = Field(default="sha256", pattern=r"^(sha1|sha256|sha512)$")
    encoding: str = Field(default="hex", pattern=r"^(hex|base64)$")
    prefix: str | None = Field(default=None, max_length=64, description="E.g. `sha256=`; default from the preset.")
    tolerance_seconds: int = Field(
        default=300, ge=1, le=86400, description="Timestamped presets: the oldest signature accepted."
    )


class TokenAuth(ApiModel):
    secret_ref: SecretKeyRef
    previous_secret_ref: SecretKeyRef | None = None
    header: str = Field(
        default="Authorization",
        max_length=256,
        description="`Authorization` expects `Bearer <token>`; any other header (X-Gitlab-Token) the bare token.",
    )


class WebhookAuth(ApiModel):
    """How a request proves it comes from the sender; `type: none` must be said explicitly."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            rule("self.type != 'hmac' || has(self.hmac)", "type hmac needs the hmac block", field_path=".hmac"),
            rule(
                "self.type != 'token' || has(self.token)",
                "type token needs the token block",
                field_path=".token",
            ),
            rule("self.type == 'hmac' || !has(self.hmac)", "the hmac block needs type hmac", field_path=".hmac"),
            rule(
                "self.type == 'token' || !has(self.token)",
                "the token block needs type token",
                field_path=".token",
            ),
        )
    )

    type: AuthType
    hmac: HmacAuth | None = None
    token: TokenAuth | None = None


class RateLimit(ApiModel):
    """A token bucket per Webhook; over it, 429 with Retry-After."""

    requests_per_second: float = Field(gt=0, le=100000)
    burst: int = Field(default=10, ge=1, le=100000)


class WebhookTarget(ApiModel):
    """Instead of (or besides) a Job: make a Sensor poll now."""

    sensor: ResourceName


class WebhookSpec(ProducerSpec):
    model_config = ConfigDict(
        # Neither jobTemplate nor target is fine: the Webhook's events then go to Automations only.
        json_schema_extra=rules(*PRODUCER_RULES)
    )

    auth: WebhookAuth
    methods: list[str] = Field(
        default_factory=lambda: ["POST"],
        max_length=7,
        json_schema_extra={"items": {"type": "string", "enum": ["POST", "PUT", "PATCH", "GET", "DELETE"]}},
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)
    rate_limit: RateLimit | None = None
    event_type: str = Field(default="jobwire.webhook.received", min_length=1, max_length=256)
    id_headers: list[str] = Field(
        default_factory=lambda: ["X-GitHub-Delivery", "Idempotency-Key", "X-Request-Id", "ce-id"],
        max_length=16,
        description="Headers whose value is the delivery id, first found wins; otherwise a hash of the body.",
    )
    filter: str | None = Field(
        default=None,
        max_length=4096,
        description="CEL over `body`, `headers` and `event`; false answers 202 filtered.",
    )
    target: WebhookTarget | None = None


class WebhookCounters(ApiModel):
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    filtered: int = 0
    rejected: dict[str, int] | None = None


class ForwardedEvent(ApiModel):
    """A request taken by a replica that does not lead, waiting for the leader (docs/high-availability.md)."""

    id: str = Field(description="The event id: a repeat of the same delivery is not added twice.")
    event: Any = Field(default=None, description="The event (CloudEvents JSON), when an Automation may want it.")
    nudge: ResourceName | None = Field(default=None, description="The Sensor to poll now (spec.target).")
    replica: str | None = Field(default=None, description="The replica that took the request.")
    time: datetime | None = None


class WebhookStatus(ProducerStatus):
    url: str | None = Field(default=None, description="The path to send requests to, on the receiver's address.")
    counters: WebhookCounters | None = None
    last_event_time: datetime | None = None
    last_event_id: str | None = None
    forwarded: list[ForwardedEvent] | None = Field(
        default=None,
        description="Requests taken by replicas that do not lead, until the leader has handed them to its "
        "Automations (and Sensors); bounded, over the bound those replicas answer 503.",
    )

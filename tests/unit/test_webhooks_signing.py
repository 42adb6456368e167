"""`sign`, the sender's half of webhook auth (`jobwire send` uses it): whatever it signs, `verify` accepts, in every
scheme; another secret, another body or a stale timestamp is refused; the published formats are what it writes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobwire.api.webhook import WebhookAuth
from jobwire.webhooks.auth import AuthFailure, Secrets, sign, verify
from jobwire.webhooks.replay import ReplayGuard

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
SECRET_REF = {"name": "hook", "key": "secret"}
BODY = b'{"ref": "refs/heads/main"}'


def hmac_auth(**spec: Any) -> WebhookAuth:
    return WebhookAuth.model_validate({"type": "hmac", "hmac": {"secretRef": SECRET_REF, **spec}})


def token_auth(**spec: Any) -> WebhookAuth:
    return WebhookAuth.model_validate({"type": "token", "token": {"secretRef": SECRET_REF, **spec}})


SCHEMES = [
    pytest.param(hmac_auth(preset="github"), id="github"),
    pytest.param(hmac_auth(preset="stripe"), id="stripe"),
    pytest.param(hmac_auth(preset="slack"), id="slack"),
    pytest.param(hmac_auth(), id="generic-default"),
    *[
        pytest.param(
            hmac_auth(header="X-Sig", algorithm=algorithm, encoding=encoding, prefix=prefix),
            id=f"generic-{algorithm}-{encoding}-{prefix or 'noprefix'}",
        )
        for algorithm in ("sha1", "sha256", "sha512")
        for encoding in ("hex", "base64")
        for prefix in ("", f"{algorithm}=")
    ],
    pytest.param(token_auth(), id="bearer"),
    pytest.param(token_auth(header="X-Gitlab-Token"), id="token-header"),
]


@pytest.mark.parametrize("auth", SCHEMES)
def test_what_sign_writes_verify_accepts(auth: WebhookAuth) -> None:
    headers = sign(auth, b"s3cret", BODY, T0)
    verify(auth, Secrets(b"s3cret"), headers, BODY, T0 + timedelta(seconds=5), ReplayGuard())


@pytest.mark.parametrize("auth", SCHEMES)
def test_another_secret_is_refused(auth: WebhookAuth) -> None:
    headers = sign(auth, b"wrong", BODY, T0)
    with pytest.raises(AuthFailure) as caught:
        verify(auth, Secrets(b"s3cret"), headers, BODY, T0, ReplayGuard())
    assert caught.value.reason in ("BadSignature", "BadToken")


@pytest.mark.parametrize("auth", [p for p in SCHEMES if not str(p.id).startswith(("bearer", "token"))])
def test_another_body_is_refused(auth: WebhookAuth) -> None:
    headers = sign(auth, b"s3cret", BODY, T0)
    with pytest.raises(AuthFailure) as caught:
        verify(auth, Secrets(b"s3cret"), headers, BODY + b" ", T0, ReplayGuard())
    assert caught.value.reason == "BadSignature"


@pytest.mark.parametrize("preset", ["stripe", "slack"])
def test_timestamped_presets_sign_with_the_time_given(preset: str) -> None:
    auth = hmac_auth(preset=preset, toleranceSeconds=60)
    headers = sign(auth, b"s3cret", BODY, T0)
    with pytest.raises(AuthFailure) as caught:
        verify(auth, Secrets(b"s3cret"), headers, BODY, T0 + timedelta(seconds=61), ReplayGuard())
    assert caught.value.reason == "StaleTimestamp"


def test_the_published_formats() -> None:
    mac = hmac.new(b"k", BODY, hashlib.sha256)
    assert sign(hmac_auth(preset="github"), b"k", BODY, T0) == {"X-Hub-Signature-256": "sha256=" + mac.hexdigest()}
    t = int(T0.timestamp())
    stripe = hmac.new(b"k", f"{t}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(hmac_auth(preset="stripe"), b"k", BODY, T0) == {"Stripe-Signature": f"t={t},v1={stripe}"}
    slack = hmac.new(b"k", f"v0:{t}:".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(hmac_auth(preset="slack"), b"k", BODY, T0) == {
        "X-Slack-Signature": f"v0={slack}",
        "X-Slack-Request-Timestamp": str(t),
    }
    generic = hmac_auth(header="X-Sig", algorithm="sha512", encoding="base64", prefix="sha512=")
    digest = base64.b64encode(hmac.new(b"k", BODY, hashlib.sha512).digest()).decode()
    assert sign(generic, b"k", BODY, T0) == {"X-Sig": "sha512=" + digest}
    assert sign(token_auth(), b"tok\n", BODY, T0) == {"Authorization": "Bearer tok"}
    assert sign(token_auth(header="X-Gitlab-Token"), b" tok ", BODY, T0) == {"X-Gitlab-Token": "tok"}
    assert sign(WebhookAuth.model_validate({"type": "none"}), b"", BODY, T0) == {}


@pytest.mark.parametrize("value", [b"line\nbreak", b"\xff\xfe", b"tab\there", b"   "])
def test_a_token_a_header_cannot_carry_is_refused_without_quoting_it(value: bytes) -> None:
    with pytest.raises(ValueError, match="header cannot carry") as caught:
        sign(token_auth(), value, BODY, T0)
    for part in value.decode("latin-1").split():
        assert part not in str(caught.value)


def test_bad_inputs_are_the_callers_bug() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        sign(hmac_auth(preset="github"), b"", BODY, T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        sign(hmac_auth(preset="stripe"), b"k", BODY, T0.replace(tzinfo=None))

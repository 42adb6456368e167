"""Webhook authentication against the providers' own published examples (GitHub, Slack) and their documented
schemes (Stripe), every generic algorithm x encoding x prefix, tokens, rotation, replay, and messages that never
carry a secret, a token or a received signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from jobwire.api.webhook import WebhookAuth
from jobwire.webhooks.auth import AuthFailure, Secrets, auth_header_names, verify
from jobwire.webhooks.replay import ReplayGuard

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
SECRET_REF = {"name": "hook", "key": "secret"}


def hmac_auth(**hmac_spec: Any) -> WebhookAuth:
    return WebhookAuth.model_validate({"type": "hmac", "hmac": {"secretRef": SECRET_REF, **hmac_spec}})


def token_auth(**token_spec: Any) -> WebhookAuth:
    return WebhookAuth.model_validate({"type": "token", "token": {"secretRef": SECRET_REF, **token_spec}})


def check(
    auth: WebhookAuth,
    secrets: Secrets | None,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime = T0,
    replay: ReplayGuard | None = None,
    scope: str = "",
) -> None:
    verify(auth, secrets, headers, body, now, replay if replay is not None else ReplayGuard(), scope=scope)


def failure(
    auth: WebhookAuth,
    secrets: Secrets,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime = T0,
    replay: ReplayGuard | None = None,
) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        check(auth, secrets, headers, body, now=now, replay=replay)
    return caught.value


# ---- GitHub: docs.github.com, "Validating webhook deliveries", "Testing the webhook payload validation" ----------

GITHUB_SECRET = b"It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
GITHUB = hmac_auth(preset="github")


def test_github_published_example_passes() -> None:
    check(GITHUB, Secrets(GITHUB_SECRET), {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)


def test_github_header_names_are_case_insensitive_in_any_mapping() -> None:
    check(GITHUB, Secrets(GITHUB_SECRET), {"x-hub-signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)
    check(GITHUB, Secrets(GITHUB_SECRET), CIMultiDict({"X-HUB-SIGNATURE-256": GITHUB_SIGNATURE}), GITHUB_BODY)


def test_github_changed_body_fails() -> None:
    caught = failure(GITHUB, Secrets(GITHUB_SECRET), {"X-Hub-Signature-256": GITHUB_SIGNATURE}, b"Hello, World?")
    assert (caught.reason, caught.message) == ("BadSignature", "header X-Hub-Signature-256 does not match the body")


def test_github_wrong_secret_fails() -> None:
    caught = failure(GITHUB, Secrets(b"not the secret"), {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)
    assert caught.reason == "BadSignature"


@pytest.mark.parametrize(
    "secrets",
    [Secrets(b"the new secret", previous=GITHUB_SECRET), Secrets(GITHUB_SECRET, previous=b"the old secret")],
    ids=["old-secret-as-previous", "new-secret-as-current"],
)
def test_github_rotation_accepts_both_secrets(secrets: Secrets) -> None:
    check(GITHUB, secrets, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)


def test_github_retried_delivery_is_not_refused_as_a_replay() -> None:
    """No timestamp, so a repeat is a legitimate retry; the delivery id makes it the same Job."""
    guard = ReplayGuard()
    for _ in range(3):
        check(GITHUB, Secrets(GITHUB_SECRET), {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY, replay=guard)
    assert len(guard) == 0


def test_github_preset_ignores_the_generic_fields() -> None:
    auth = hmac_auth(preset="github", header="X-Other", algorithm="sha1", encoding="base64", prefix="x=")
    check(auth, Secrets(GITHUB_SECRET), {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY)


@pytest.mark.parametrize(
    ("headers", "reason", "message"),
    [
        ({}, "MissingSignature", "header X-Hub-Signature-256 is missing"),
        ({"X-Hub-Signature-256": "  "}, "MissingSignature", "header X-Hub-Signature-256 is missing"),
        (
            {"X-Hub-Signature-256": GITHUB_SIGNATURE.removeprefix("sha256=")},
            "MalformedSignature",
            "header X-Hub-Signature-256 does not start with 'sha256='",
        ),
        (
            {"X-Hub-Signature-256": "sha256=zz" + GITHUB_SIGNATURE[9:]},
            "MalformedSignature",
            "header X-Hub-Signature-256 is not a sha256 signature in hex",
        ),
        (
            {"X-Hub-Signature-256": GITHUB_SIGNATURE[:-2]},
            "MalformedSignature",
            "header X-Hub-Signature-256 is not a sha256 signature in hex",
        ),
        # Only the SHA-1 header (GitHub sends both): not enough.
        ({"X-Hub-Signature": "sha1=" + "0" * 40}, "MissingSignature", "header X-Hub-Signature-256 is missing"),
    ],
)
def test_github_missing_and_malformed(headers: dict[str, str], reason: str, message: str) -> None:
    caught = failure(GITHUB, Secrets(GITHUB_SECRET), headers, GITHUB_BODY)
    assert (caught.reason, caught.message, str(caught)) == (reason, message, message)


def test_github_uppercase_hex_and_prefix_pass() -> None:
    headers = {"X-Hub-Signature-256": GITHUB_SIGNATURE.upper()}
    check(GITHUB, Secrets(GITHUB_SECRET), headers, GITHUB_BODY)


# ---- Slack: api.slack.com, "Verifying requests from Slack", the worked example ------------------------------------
# The body's command is `%2Fwebhook-collect`, as on Slack's page: it is the body the published signature signs.

SLACK_SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SLACK_HEADERS = {"X-Slack-Signature": SLACK_SIGNATURE, "X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP)}
SLACK_NOW = datetime.fromtimestamp(SLACK_TIMESTAMP, UTC)
SLACK = hmac_auth(preset="slack")


def test_slack_published_example_passes_at_its_timestamp() -> None:
    check(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW)


def test_slack_replay_of_the_same_signature_is_refused() -> None:
    guard = ReplayGuard()
    check(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW, replay=guard)
    later = SLACK_NOW + timedelta(seconds=10)
    caught = failure(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=later, replay=guard)
    assert caught.reason == "ReplayedSignature"
    assert caught.message == "header X-Slack-Signature: this signed request was already accepted"


def test_slack_replay_with_a_re_encoded_signature_is_still_refused() -> None:
    guard = ReplayGuard()
    check(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW, replay=guard)
    upper = {**SLACK_HEADERS, "X-Slack-Signature": "v0=" + SLACK_SIGNATURE[3:].upper()}
    assert failure(SLACK, Secrets(SLACK_SECRET), upper, SLACK_BODY, now=SLACK_NOW, replay=guard).reason == (
        "ReplayedSignature"
    )


def test_slack_replay_memory_is_per_scope() -> None:
    guard = ReplayGuard()
    check(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW, replay=guard, scope="uid-a")
    check(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW, replay=guard, scope="uid-b")
    with pytest.raises(AuthFailure):
        check(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW, replay=guard, scope="uid-a")


def test_slack_replay_keys_are_digests_not_signatures() -> None:
    guard = ReplayGuard()
    check(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW, replay=guard)
    (key,) = guard._expiry  # the only look inside: what is kept in memory
    assert len(key) == 64
    assert SLACK_SIGNATURE[3:] not in key


@pytest.mark.parametrize(("offset", "when"), [(301, "301 s old"), (-301, "301 s in the future")])
def test_slack_outside_the_tolerance_is_stale(offset: int, when: str) -> None:
    now = SLACK_NOW + timedelta(seconds=offset)
    caught = failure(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=now)
    assert caught.reason == "StaleTimestamp"
    assert caught.message == f"the signed timestamp is {when}, beyond the tolerance of 300 s"


@pytest.mark.parametrize("offset", [300, -300])
def test_slack_at_the_edge_of_the_tolerance_passes(offset: int) -> None:
    check(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW + timedelta(seconds=offset))


def test_slack_tolerance_comes_from_the_spec() -> None:
    now = SLACK_NOW + timedelta(seconds=301)
    check(hmac_auth(preset="slack", toleranceSeconds=600), Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=now)


def test_slack_an_unsigned_stale_request_is_a_bad_signature_not_stale() -> None:
    """The signature is checked first: StaleTimestamp is only said of requests the sender really signed."""
    now = SLACK_NOW + timedelta(days=1)
    caught = failure(SLACK, Secrets(b"wrong"), SLACK_HEADERS, SLACK_BODY, now=now)
    assert caught.reason == "BadSignature"


def test_slack_rejected_requests_do_not_fill_the_replay_memory() -> None:
    guard = ReplayGuard()
    failure(SLACK, Secrets(b"wrong"), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW, replay=guard)
    failure(SLACK, Secrets(SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW + timedelta(hours=1), replay=guard)
    assert len(guard) == 0


def test_slack_rotation() -> None:
    check(SLACK, Secrets(b"new-signing-secret", previous=SLACK_SECRET), SLACK_HEADERS, SLACK_BODY, now=SLACK_NOW)


@pytest.mark.parametrize(
    ("headers", "reason", "message"),
    [
        ({"X-Slack-Request-Timestamp": "1531420618"}, "MissingSignature", "header X-Slack-Signature is missing"),
        ({"X-Slack-Signature": SLACK_SIGNATURE}, "MissingSignature", "header X-Slack-Request-Timestamp is missing"),
        (
            {**SLACK_HEADERS, "X-Slack-Request-Timestamp": "1531420618.5"},
            "MalformedSignature",
            "header X-Slack-Request-Timestamp is not unix seconds",
        ),
        (
            {**SLACK_HEADERS, "X-Slack-Request-Timestamp": "9" * 400},
            "MalformedSignature",
            "header X-Slack-Request-Timestamp is not unix seconds",
        ),
        (
            {**SLACK_HEADERS, "X-Slack-Signature": "v1=" + SLACK_SIGNATURE[3:]},
            "MalformedSignature",
            "header X-Slack-Signature does not start with 'v0='",
        ),
        (
            {**SLACK_HEADERS, "X-Slack-Signature": "v0=not-hex"},
            "MalformedSignature",
            "header X-Slack-Signature is not a sha256 signature in hex",
        ),
        (
            {**SLACK_HEADERS, "X-Slack-Request-Timestamp": "1531420619"},
            "BadSignature",
            "header X-Slack-Signature does not match the body and timestamp",
        ),
    ],
)
def test_slack_missing_malformed_and_bad(headers: dict[str, str], reason: str, message: str) -> None:
    caught = failure(SLACK, Secrets(SLACK_SECRET), headers, SLACK_BODY, now=SLACK_NOW)
    assert (caught.reason, caught.message) == (reason, message)


# ---- Stripe: docs.stripe.com, "Verify webhook signatures" (manual verification) ----------------------------------
# Stripe-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">[,v1=...][,v0=...]

STRIPE_SECRET = b"whsec_test_0123456789abcdef"
STRIPE_BODY = b'{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}'
STRIPE_T = 1774746000
STRIPE_NOW = datetime.fromtimestamp(STRIPE_T, UTC)
STRIPE = hmac_auth(preset="stripe")


def stripe_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def stripe_headers(*entries: str) -> dict[str, str]:
    return {"Stripe-Signature": ",".join(entries)}


GOOD_V1 = stripe_signature(STRIPE_SECRET, STRIPE_T, STRIPE_BODY)


def test_stripe_signature_passes() -> None:
    check(STRIPE, Secrets(STRIPE_SECRET), stripe_headers(f"t={STRIPE_T}", f"v1={GOOD_V1}"), STRIPE_BODY, now=STRIPE_NOW)


@pytest.mark.parametrize(
    "entries",
    [
        (f"t={STRIPE_T}", "v1=" + "0" * 64, f"v1={GOOD_V1}"),
        (f"t={STRIPE_T}", f"v1={GOOD_V1}", "v1=" + "0" * 64),
        (f"t={STRIPE_T}", "v1=garbage", f"v1={GOOD_V1}", "v0=" + "1" * 64),
        (f"v0={'2' * 64}", f"v1={GOOD_V1}", f"t={STRIPE_T}", "scheme=unknown", "noequals"),
    ],
)
def test_stripe_any_v1_that_matches_passes(entries: tuple[str, ...]) -> None:
    check(STRIPE, Secrets(STRIPE_SECRET), stripe_headers(*entries), STRIPE_BODY, now=STRIPE_NOW)


def test_stripe_rotation_with_one_v1_per_secret() -> None:
    old = stripe_signature(b"whsec_old", STRIPE_T, STRIPE_BODY)
    headers = stripe_headers(f"t={STRIPE_T}", f"v1={old}")
    check(STRIPE, Secrets(STRIPE_SECRET, previous=b"whsec_old"), headers, STRIPE_BODY, now=STRIPE_NOW)


def test_stripe_the_timestamp_is_signed() -> None:
    headers = stripe_headers(f"t={STRIPE_T + 1}", f"v1={GOOD_V1}")
    assert failure(STRIPE, Secrets(STRIPE_SECRET), headers, STRIPE_BODY, now=STRIPE_NOW).reason == "BadSignature"


def test_stripe_only_v0_does_not_count() -> None:
    v0 = stripe_signature(STRIPE_SECRET, STRIPE_T, STRIPE_BODY)
    caught = failure(STRIPE, Secrets(STRIPE_SECRET), stripe_headers(f"t={STRIPE_T}", f"v0={v0}"), STRIPE_BODY)
    assert (caught.reason, caught.message) == ("MalformedSignature", "header Stripe-Signature has no v1 signature")


@pytest.mark.parametrize(("offset", "passes"), [(299, True), (300, True), (301, False), (-301, False)])
def test_stripe_tolerance_both_ways(offset: int, passes: bool) -> None:
    headers = stripe_headers(f"t={STRIPE_T}", f"v1={GOOD_V1}")
    now = STRIPE_NOW + timedelta(seconds=offset)
    if passes:
        check(STRIPE, Secrets(STRIPE_SECRET), headers, STRIPE_BODY, now=now)
    else:
        assert failure(STRIPE, Secrets(STRIPE_SECRET), headers, STRIPE_BODY, now=now).reason == "StaleTimestamp"


def test_stripe_replay_is_refused_also_with_extra_v1_entries() -> None:
    guard = ReplayGuard()
    headers = stripe_headers(f"t={STRIPE_T}", f"v1={GOOD_V1}")
    check(STRIPE, Secrets(STRIPE_SECRET), headers, STRIPE_BODY, now=STRIPE_NOW, replay=guard)
    padded = stripe_headers(f"t={STRIPE_T}", "v1=" + "0" * 64, f"v1={GOOD_V1}")
    caught = failure(STRIPE, Secrets(STRIPE_SECRET), padded, STRIPE_BODY, now=STRIPE_NOW, replay=guard)
    assert caught.reason == "ReplayedSignature"


def test_stripe_replay_memory_lasts_until_the_timestamp_goes_stale() -> None:
    guard = ReplayGuard()
    headers = stripe_headers(f"t={STRIPE_T}", f"v1={GOOD_V1}")
    early = STRIPE_NOW - timedelta(seconds=300)  # the earliest moment the request is accepted
    check(STRIPE, Secrets(STRIPE_SECRET), headers, STRIPE_BODY, now=early, replay=guard)
    last = STRIPE_NOW + timedelta(seconds=300)  # the latest moment it is still fresh
    assert failure(STRIPE, Secrets(STRIPE_SECRET), headers, STRIPE_BODY, now=last, replay=guard).reason == (
        "ReplayedSignature"
    )


def test_a_new_stripe_delivery_of_the_same_event_passes() -> None:
    """Stripe's retries are signed again with a new timestamp: a different signed message, not a replay."""
    guard = ReplayGuard()
    for t in (STRIPE_T, STRIPE_T + 60):
        headers = stripe_headers(f"t={t}", f"v1={stripe_signature(STRIPE_SECRET, t, STRIPE_BODY)}")
        check(
            STRIPE, Secrets(STRIPE_SECRET), headers, STRIPE_BODY, now=STRIPE_NOW + timedelta(seconds=60), replay=guard
        )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "MissingSignature"),
        (stripe_headers(f"v1={GOOD_V1}"), "MalformedSignature"),
        (stripe_headers(f"t={STRIPE_T}", f"t={STRIPE_T}", f"v1={GOOD_V1}"), "MalformedSignature"),
        (stripe_headers("t=soon", f"v1={GOOD_V1}"), "MalformedSignature"),
        (stripe_headers("t=-5", f"v1={GOOD_V1}"), "MalformedSignature"),
        (stripe_headers(f"t={STRIPE_T}", "v1=xyz"), "MalformedSignature"),
        (stripe_headers(f"t={STRIPE_T}", "v1=" + GOOD_V1[:-2]), "MalformedSignature"),
        (stripe_headers(f"t={STRIPE_T}", "v1=" + "0" * 64), "BadSignature"),
    ],
)
def test_stripe_missing_malformed_and_bad(headers: dict[str, str], reason: str) -> None:
    assert failure(STRIPE, Secrets(STRIPE_SECRET), headers, STRIPE_BODY, now=STRIPE_NOW).reason == reason


# ---- generic: every algorithm x encoding x prefix ----------------------------------------------------------------

GENERIC_SECRET = b"generic-secret"
GENERIC_BODY = b'{"ref":"refs/heads/main"}'


def generic_signature(algorithm: str, encoding: str, secret: bytes = GENERIC_SECRET) -> str:
    digest = hmac.new(secret, GENERIC_BODY, algorithm).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("prefix", [None, "sha256=", "v1,"])
def test_generic_every_algorithm_encoding_and_prefix(algorithm: str, encoding: str, prefix: str | None) -> None:
    auth = hmac_auth(header="X-Shop-Hmac", algorithm=algorithm, encoding=encoding, prefix=prefix)
    good = (prefix or "") + generic_signature(algorithm, encoding)
    check(auth, Secrets(GENERIC_SECRET), {"X-Shop-Hmac": good}, GENERIC_BODY)
    check(auth, Secrets(b"new", previous=GENERIC_SECRET), {"x-shop-hmac": good}, GENERIC_BODY)
    assert failure(auth, Secrets(GENERIC_SECRET), {"X-Shop-Hmac": good}, GENERIC_BODY + b" ").reason == "BadSignature"
    other = (prefix or "") + generic_signature(algorithm, encoding, b"other secret")
    assert failure(auth, Secrets(GENERIC_SECRET), {"X-Shop-Hmac": other}, GENERIC_BODY).reason == "BadSignature"


def test_generic_default_header_is_x_signature() -> None:
    auth = hmac_auth()
    check(auth, Secrets(GENERIC_SECRET), {"X-Signature": generic_signature("sha256", "hex")}, GENERIC_BODY)
    assert failure(auth, Secrets(GENERIC_SECRET), {}, GENERIC_BODY).message == "header X-Signature is missing"


def test_generic_signature_of_another_algorithm_is_malformed() -> None:
    """A sender configured for SHA-1 while the spec says SHA-256: named as such, not as a wrong secret."""
    auth = hmac_auth(algorithm="sha256")
    caught = failure(auth, Secrets(GENERIC_SECRET), {"X-Signature": generic_signature("sha1", "hex")}, GENERIC_BODY)
    assert (caught.reason, caught.message) == (
        "MalformedSignature",
        "header X-Signature is not a sha256 signature in hex",
    )


MALFORMED_SIGNATURES = ["zz", "0", "ab cd", "é" * 64, "0x" + "a" * 62, "=====", "%%%", "\x00" * 64, "a" * 63]


@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("received", MALFORMED_SIGNATURES)
def test_generic_malformed_signatures_fail_cleanly(encoding: str, received: str) -> None:
    auth = hmac_auth(encoding=encoding)
    caught = failure(auth, Secrets(GENERIC_SECRET), {"X-Signature": received}, GENERIC_BODY)
    assert caught.reason in {"MalformedSignature", "BadSignature"}


@given(received=st.text(max_size=200), encoding=st.sampled_from(["hex", "base64"]))
def test_generic_any_signature_text_gives_an_auth_failure_only(received: str, encoding: str) -> None:
    auth = hmac_auth(encoding=encoding, prefix="sha256=")
    with pytest.raises(AuthFailure):
        check(auth, Secrets(GENERIC_SECRET), {"X-Signature": received}, GENERIC_BODY)


# ---- tokens ------------------------------------------------------------------------------------------------------

TOKEN = "glpat-0123456789abcdef"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_token_passes_with_any_case_of_the_scheme(scheme: str) -> None:
    check(token_auth(), Secrets(TOKEN.encode()), {"Authorization": f"{scheme} {TOKEN}"}, b"")


def test_bare_token_in_a_custom_header_gitlab() -> None:
    auth = token_auth(header="X-Gitlab-Token")
    check(auth, Secrets(TOKEN.encode()), {"X-Gitlab-Token": TOKEN}, b"")
    check(auth, Secrets(TOKEN.encode()), {"x-gitlab-token": TOKEN}, b"")


def test_token_rotation() -> None:
    auth = token_auth(header="X-Gitlab-Token")
    check(auth, Secrets(b"new-token", previous=TOKEN.encode()), {"X-Gitlab-Token": TOKEN}, b"")
    check(auth, Secrets(b"new-token", previous=TOKEN.encode()), {"X-Gitlab-Token": "new-token"}, b"")


def test_token_secret_with_a_trailing_newline_still_matches() -> None:
    check(token_auth(header="X-Gitlab-Token"), Secrets(TOKEN.encode() + b"\n"), {"X-Gitlab-Token": TOKEN}, b"")


@pytest.mark.parametrize(
    ("auth", "headers", "reason", "message"),
    [
        (
            token_auth(),
            {"Authorization": "Bearer wrong"},
            "BadToken",
            "header Authorization does not hold a valid token",
        ),
        (token_auth(), {"Authorization": f"Bearer {TOKEN}x"}, "BadToken", None),
        (token_auth(), {"Authorization": TOKEN}, "MissingToken", "header Authorization holds no Bearer token"),
        (token_auth(), {"Authorization": f"Basic {TOKEN}"}, "MissingToken", None),
        (token_auth(), {"Authorization": "Bearer"}, "MissingToken", None),
        (token_auth(), {}, "MissingToken", "header Authorization is missing"),
        (token_auth(), {"X-Gitlab-Token": TOKEN}, "MissingToken", None),
        (token_auth(header="X-Gitlab-Token"), {"X-Gitlab-Token": "nope"}, "BadToken", None),
        (token_auth(header="X-Gitlab-Token"), {"X-Gitlab-Token": f"Bearer {TOKEN}"}, "BadToken", None),
        (token_auth(header="X-Gitlab-Token"), {"Authorization": f"Bearer {TOKEN}"}, "MissingToken", None),
        (token_auth(header="X-Gitlab-Token"), {"X-Gitlab-Token": "\udcff"}, "BadToken", None),
    ],
)
def test_token_failures(auth: WebhookAuth, headers: dict[str, str], reason: str, message: str | None) -> None:
    caught = failure(auth, Secrets(TOKEN.encode()), headers, b"")
    assert caught.reason == reason
    if message is not None:
        assert caught.message == message


# ---- none, misuse, Secrets ---------------------------------------------------------------------------------------


def test_type_none_checks_nothing() -> None:
    check(WebhookAuth.model_validate({"type": "none"}), None, {}, b"anything")


def test_missing_secrets_or_block_is_a_caller_bug_not_an_auth_failure() -> None:
    with pytest.raises(ValueError, match="needs secrets"):
        check(GITHUB, None, {}, b"")
    with pytest.raises(ValueError, match="needs the hmac block"):
        check(WebhookAuth.model_validate({"type": "hmac"}), Secrets(b"s"), {}, b"")
    with pytest.raises(ValueError, match="timezone-aware"):
        check(GITHUB, Secrets(b"s"), {}, b"", now=datetime(2026, 1, 1))


def test_secrets_are_validated_and_never_shown() -> None:
    secrets = Secrets(b"top-secret-current", previous=b"top-secret-previous")
    assert "top-secret" not in repr(secrets)
    assert secrets.candidates() == (b"top-secret-current", b"top-secret-previous")
    with pytest.raises(ValueError, match="current secret"):
        Secrets(b"")
    with pytest.raises(ValueError, match="previous secret"):
        Secrets(b"x", previous=b"")


@pytest.mark.parametrize(
    ("auth", "names"),
    [
        (WebhookAuth.model_validate({"type": "none"}), set()),
        (GITHUB, {"x-hub-signature-256", "x-hub-signature"}),
        (STRIPE, {"stripe-signature"}),
        (SLACK, {"x-slack-signature"}),
        (hmac_auth(), {"x-signature"}),
        (hmac_auth(header="X-Shopify-Hmac-Sha256"), {"x-shopify-hmac-sha256"}),
        (token_auth(), {"authorization"}),
        (token_auth(header="X-Gitlab-Token"), {"x-gitlab-token"}),
    ],
)
def test_auth_header_names(auth: WebhookAuth, names: set[str]) -> None:
    assert auth_header_names(auth) == frozenset(names)


# ---- messages never carry a secret, a token or a received signature ---------------------------------------------

SECRETS = st.binary(min_size=16, max_size=64)
TOKENS = st.text(alphabet=string.ascii_letters + string.digits + "-_.~", min_size=16, max_size=64)


def sensitive_forms(value: bytes) -> list[str]:
    forms = [value.hex(), value.hex().upper(), base64.b64encode(value).decode()]
    try:
        forms.append(value.decode("utf-8"))
    except UnicodeDecodeError:
        forms.append(value.decode("latin-1"))
    return forms


def outcome_of(
    auth: WebhookAuth, secrets: Secrets, headers: Mapping[str, str], body: bytes, now: datetime, guard: ReplayGuard
) -> AuthFailure | None:
    try:
        verify(auth, secrets, headers, body, now, guard)
    except AuthFailure as caught:
        return caught
    return None


def assert_clean(message: str, *sensitive: str) -> None:
    assert "\n" not in message
    for text in sensitive:
        assert text not in message


@settings(max_examples=150)
@given(
    secret=SECRETS,
    previous=st.none() | SECRETS,
    other=SECRETS,
    preset=st.sampled_from(["generic", "github", "stripe", "slack"]),
    tamper=st.sampled_from(["body", "secret", "stale", "replay", "garbage", "missing"]),
)
def test_hmac_failure_messages_never_carry_secrets_or_signatures(
    secret: bytes, previous: bytes | None, other: bytes, preset: str, tamper: str
) -> None:
    assume(other not in (secret, previous))
    auth = hmac_auth(preset=preset)
    body = b'{"n":1}'
    signing_secret = other if tamper == "secret" else secret
    t = STRIPE_T
    if preset == "stripe":
        signature = stripe_signature(signing_secret, t, body)
        headers = {"Stripe-Signature": f"t={t},v1={signature}"}
    elif preset == "slack":
        signature = hmac.new(signing_secret, f"v0:{t}:".encode() + body, hashlib.sha256).hexdigest()
        headers = {"X-Slack-Signature": f"v0={signature}", "X-Slack-Request-Timestamp": str(t)}
    else:
        signature = hmac.new(signing_secret, body, hashlib.sha256).hexdigest()
        headers = {"X-Hub-Signature-256" if preset == "github" else "X-Signature": f"sha256={signature}"}
        if preset == "generic":
            auth = hmac_auth(prefix="sha256=")
    if tamper == "garbage":
        headers = {name: value + other.hex()[:7] for name, value in headers.items()}
    if tamper == "missing":
        headers = {}
    sent_body = body + b" " if tamper == "body" else body
    now = STRIPE_NOW + timedelta(hours=1) if tamper == "stale" else STRIPE_NOW
    guard = ReplayGuard()
    secrets = Secrets(secret, previous=previous)
    if tamper == "replay":
        outcome_of(auth, secrets, headers, sent_body, now, guard)
    caught = outcome_of(auth, secrets, headers, sent_body, now, guard)
    if caught is None:
        # No timestamp in these schemes: nothing goes stale, and a repeat is a legitimate retry.
        assert tamper in {"stale", "replay"}
        assert preset in {"generic", "github"}
        return
    forms = [*sensitive_forms(secret), *sensitive_forms(other), signature, signature.upper()]
    if previous is not None:
        forms += sensitive_forms(previous)
    assert_clean(caught.message, *forms)
    assert_clean(str(caught), *forms)


@settings(max_examples=150)
@given(
    token=TOKENS,
    sent=TOKENS,
    header=st.sampled_from(["Authorization", "X-Gitlab-Token"]),
    form=st.sampled_from(["{}", "Bearer {}", "Basic {}", "bearer  {} ", "{} {}"]),
)
def test_token_failure_messages_never_carry_tokens(token: str, sent: str, header: str, form: str) -> None:
    auth = token_auth(header=header)
    value = form.format(sent, sent)
    caught = outcome_of(auth, Secrets(token.encode()), {header: value}, b"", T0, ReplayGuard())
    if caught is None:
        assert sent == token
    else:
        assert_clean(caught.message, token, sent)

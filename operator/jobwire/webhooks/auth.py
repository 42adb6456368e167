"""Does a request come from its sender? HMAC signatures (generic, GitHub, Stripe, Slack) and bearer tokens.

Pure: the caller passes the headers, the raw body, the secrets and the time; nothing here reads a clock, a Secret
or a socket. `verify` returns on success and raises `AuthFailure` otherwise. `sign` is its counterpart for
senders (`jobwire send`, tests): the headers that make `verify` accept a body, built from the same schemes.

Schemes
- generic: `header` (default `X-Signature`) holds `prefix` + the HMAC of the raw body with `algorithm`
  (sha1/sha256/sha512), in `encoding` (hex/base64). The prefix is matched without regard to case.
- github: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
- stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`, HMAC-SHA256 of `<t>.<body>`;
  any v1 that matches passes (Stripe sends several while it rolls a secret); v0 and unknown keys are ignored.
- slack: `X-Slack-Signature: v0=<hex>` and `X-Slack-Request-Timestamp: <unix seconds>`, HMAC-SHA256 of
  `v0:<timestamp>:<body>`.
A preset fixes its whole scheme: `header`, `algorithm`, `encoding` and `prefix` of the spec apply to `generic` only.

Order of checks for the timestamped presets: the signature first, then the timestamp (within `tolerance_seconds`
of `now`, both ways: StaleTimestamp), then replay. So StaleTimestamp and ReplayedSignature are only ever said of
requests the sender really signed, and an unsigned request can never fill the replay memory.

Replay
- stripe/slack: a signed message already accepted inside its tolerance window is refused (ReplayedSignature). The
  key is a digest of (scope, preset, the HMAC of the signed message under the current secret): it names the
  message, not the header text, so re-encoding a signature (hex case, an extra v1 entry) does not get a replay
  through, and no received signature is stored.
- generic/github carry no timestamp, so a signature stays valid forever and refusing a repeated one would refuse
  the sender's legitimate retries. There a repeat is not an auth matter: the event id (the delivery id, or the
  body's hash) names the Job, and the second attempt finds it exists.

Constant time: every candidate secret is computed and compared (`hmac.compare_digest`) against every candidate
signature, and the results are OR-ed without an early exit, so timing shows neither whether nor which secret
matched. Tokens are compared as SHA-256 digests, so the comparison does not reveal the token's length either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobwire.api.webhook import AuthType, HmacAuth, HmacPreset, TokenAuth, WebhookAuth
from jobwire.webhooks.errors import AuthFailure
from jobwire.webhooks.headers import lowercase_headers
from jobwire.webhooks.replay import ReplayGuard

__all__ = [
    "DEFAULT_GENERIC_HEADER",
    "AuthFailure",
    "Secrets",
    "auth_header_names",
    "sign",
    "verify",
]

DEFAULT_GENERIC_HEADER = "X-Signature"
"""The signature header of a `generic` HMAC Webhook that names none."""

_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # 12 digits reach the year 33658: no overflow, no exponent games
_HEX = re.compile(r"[0-9A-Fa-f]+")


@dataclass(frozen=True)
class Secrets:
    """The secret a Webhook checks with, and the previous one while senders move over (both are accepted)."""

    current: bytes = field(repr=False)
    previous: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.current, bytes) or not self.current:
            raise ValueError("the current secret must be non-empty bytes")
        if self.previous is not None and (not isinstance(self.previous, bytes) or not self.previous):
            raise ValueError("the previous secret must be non-empty bytes or None")

    def candidates(self) -> tuple[bytes, ...]:
        return (self.current,) if self.previous is None else (self.current, self.previous)


@dataclass(frozen=True)
class _BodyScheme:
    """A signature over the raw body alone (generic and github)."""

    header: str
    algorithm: str
    encoding: str
    prefix: str


_GITHUB = _BodyScheme(header="X-Hub-Signature-256", algorithm="sha256", encoding="hex", prefix="sha256=")
_STRIPE_HEADER = "Stripe-Signature"
_SLACK_SIGNATURE_HEADER = "X-Slack-Signature"
_SLACK_TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"


def verify(
    auth: WebhookAuth,
    secrets: Secrets | None,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    replay: ReplayGuard,
    *,
    scope: str = "",
) -> None:
    """Return when the request proves it comes from the sender; raise `AuthFailure` otherwise.

    `headers` may be any mapping (names are compared without case); `body` is the raw body as received; `now` is
    an aware datetime; `scope` names the Webhook (e.g. its uid) inside replay keys, so Webhooks that share a
    guard and a secret never refuse each other's requests. `type: none` checks nothing. A spec whose type has no
    block, or a missing `secrets` for hmac/token, is the caller's bug: ValueError.
    """
    if auth.type == AuthType.NONE:
        return
    if secrets is None:
        raise ValueError(f"auth type {auth.type} needs secrets")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    lowered = lowercase_headers(headers)
    if auth.type == AuthType.TOKEN:
        if auth.token is None:
            raise ValueError("auth type token needs the token block")
        _verify_token(auth.token, secrets, lowered)
        return
    if auth.hmac is None:
        raise ValueError("auth type hmac needs the hmac block")
    _PRESETS[HmacPreset(auth.hmac.preset)](
        _Request(auth.hmac, secrets, lowered, body, now, replay, scope.encode("utf-8", "surrogatepass"))
    )


def sign(auth: WebhookAuth, secret: bytes, body: bytes, now: datetime) -> dict[str, str]:
    """The headers a sender sets so that `verify` accepts `body`: the signature (or token) in the Webhook's scheme.

    `secret` is the current secret's value; `now` (aware) is the timestamp of the timestamped presets. `type: none`
    needs no header. The returned values carry the credential: the caller must never print or log them. A secret
    that cannot be sent (empty, or a token a header cannot carry) is a ValueError whose message never quotes it.
    """
    if auth.type == AuthType.NONE:
        return {}
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("the secret must be non-empty bytes")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if auth.type == AuthType.TOKEN:
        if auth.token is None:
            raise ValueError("auth type token needs the token block")
        return _token_header(auth.token, secret)
    if auth.hmac is None:
        raise ValueError("auth type hmac needs the hmac block")
    preset = HmacPreset(auth.hmac.preset)
    if preset in (HmacPreset.STRIPE, HmacPreset.SLACK):
        timestamp = str(int(now.timestamp()))
        if preset == HmacPreset.STRIPE:
            mac = _mac(secret, "sha256", _stripe_message(timestamp, body))
            return {_STRIPE_HEADER: f"t={timestamp},v1={mac.hex()}"}
        mac = _mac(secret, "sha256", _slack_message(timestamp, body))
        return {_SLACK_SIGNATURE_HEADER: f"v0={mac.hex()}", _SLACK_TIMESTAMP_HEADER: timestamp}
    scheme = _GITHUB if preset == HmacPreset.GITHUB else _generic_scheme(auth.hmac)
    mac = _mac(secret, scheme.algorithm, body)
    encoded = mac.hex() if scheme.encoding == "hex" else base64.b64encode(mac).decode("ascii")
    return {scheme.header: scheme.prefix + encoded}


def auth_header_names(auth: WebhookAuth) -> frozenset[str]:
    """Lower-case names of the headers that carry credentials: strip them before a filter or a log sees headers."""
    if auth.type == AuthType.TOKEN and auth.token is not None:
        return frozenset({auth.token.header.lower()})
    if auth.type != AuthType.HMAC or auth.hmac is None:
        return frozenset()
    preset = HmacPreset(auth.hmac.preset)
    if preset == HmacPreset.GITHUB:
        return frozenset({_GITHUB.header.lower(), "x-hub-signature"})  # GitHub also sends the SHA-1 one
    if preset == HmacPreset.STRIPE:
        return frozenset({_STRIPE_HEADER.lower()})
    if preset == HmacPreset.SLACK:
        return frozenset({_SLACK_SIGNATURE_HEADER.lower()})
    return frozenset({(auth.hmac.header or DEFAULT_GENERIC_HEADER).lower()})


@dataclass(frozen=True)
class _Request:
    spec: HmacAuth
    secrets: Secrets = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    now: datetime
    replay: ReplayGuard
    scope: bytes


# ---- body signatures: generic and github ------------------------------------------------------------------------


def _generic_scheme(spec: HmacAuth) -> _BodyScheme:
    return _BodyScheme(
        header=spec.header or DEFAULT_GENERIC_HEADER,
        algorithm=spec.algorithm,
        encoding=spec.encoding,
        prefix=spec.prefix or "",
    )


def _verify_generic(request: _Request) -> None:
    _verify_body_signature(_generic_scheme(request.spec), request)


def _verify_github(request: _Request) -> None:
    _verify_body_signature(_GITHUB, request)


def _verify_body_signature(scheme: _BodyScheme, request: _Request) -> None:
    value = _required_header(request.headers, scheme.header)
    if value[: len(scheme.prefix)].lower() != scheme.prefix.lower():
        raise AuthFailure("MalformedSignature", f"header {scheme.header} does not start with {scheme.prefix!r}")
    received = _decode_signature(value[len(scheme.prefix) :], scheme.encoding, scheme.algorithm, scheme.header)
    expected = _macs(request.secrets, scheme.algorithm, request.body)
    if not _any_equal([received], expected):
        raise AuthFailure("BadSignature", f"header {scheme.header} does not match the body")


def _decode_signature(text: str, encoding: str, algorithm: str, header: str) -> bytes:
    """The signature's bytes; MalformedSignature when it cannot be one of `algorithm` in `encoding`."""
    decoded: bytes | None = None
    if encoding == "hex":
        if _HEX.fullmatch(text) and len(text) % 2 == 0:
            decoded = bytes.fromhex(text)
    else:
        try:
            decoded = base64.b64decode(text.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            decoded = None
    if decoded is None or len(decoded) != hashlib.new(algorithm).digest_size:
        raise AuthFailure("MalformedSignature", f"header {header} is not a {algorithm} signature in {encoding}")
    return decoded


# ---- timestamped signatures: stripe and slack --------------------------------------------------------------------


def _verify_stripe(request: _Request) -> None:
    value = _required_header(request.headers, _STRIPE_HEADER)
    timestamp, signatures = _stripe_fields(value)
    decoded = [bytes.fromhex(s) for s in signatures if _HEX.fullmatch(s) and len(s) == 2 * hashlib.sha256().digest_size]
    if not decoded:
        raise AuthFailure("MalformedSignature", f"header {_STRIPE_HEADER} has no hex v1 signature")
    _check_timestamped(request, "stripe", _STRIPE_HEADER, timestamp, decoded, _stripe_message(timestamp, request.body))


def _stripe_message(timestamp: str, body: bytes) -> bytes:
    """What a Stripe signature signs: `<t>.<body>`."""
    return timestamp.encode("ascii") + b"." + body


def _stripe_fields(value: str) -> tuple[str, list[str]]:
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in value.split(","):
        key, sep, field_value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamps.append(field_value)
        elif key == "v1":
            signatures.append(field_value)
    if len(timestamps) != 1 or not _UNIX_SECONDS.fullmatch(timestamps[0]):
        raise AuthFailure("MalformedSignature", f"header {_STRIPE_HEADER} needs exactly one t=<unix seconds>")
    if not signatures:
        raise AuthFailure("MalformedSignature", f"header {_STRIPE_HEADER} has no v1 signature")
    return timestamps[0], signatures


def _verify_slack(request: _Request) -> None:
    signature = _required_header(request.headers, _SLACK_SIGNATURE_HEADER)
    timestamp = _required_header(request.headers, _SLACK_TIMESTAMP_HEADER)
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise AuthFailure("MalformedSignature", f"header {_SLACK_TIMESTAMP_HEADER} is not unix seconds")
    if not signature.startswith("v0="):
        raise AuthFailure("MalformedSignature", f"header {_SLACK_SIGNATURE_HEADER} does not start with 'v0='")
    received = _decode_signature(signature[3:], "hex", "sha256", _SLACK_SIGNATURE_HEADER)
    signed = _slack_message(timestamp, request.body)
    _check_timestamped(request, "slack", _SLACK_SIGNATURE_HEADER, timestamp, [received], signed)


def _slack_message(timestamp: str, body: bytes) -> bytes:
    """What a Slack signature signs: `v0:<timestamp>:<body>`."""
    return b"v0:" + timestamp.encode("ascii") + b":" + body


def _check_timestamped(
    request: _Request, preset: str, header: str, timestamp: str, received: Sequence[bytes], signed: bytes
) -> None:
    expected = _macs(request.secrets, "sha256", signed)
    if not _any_equal(received, expected):
        raise AuthFailure("BadSignature", f"header {header} does not match the body and timestamp")
    tolerance = request.spec.tolerance_seconds
    signed_at = int(timestamp)
    skew = request.now.timestamp() - signed_at
    if abs(skew) > tolerance:
        when = f"{int(skew)} s old" if skew > 0 else f"{int(-skew)} s in the future"
        raise AuthFailure("StaleTimestamp", f"the signed timestamp is {when}, beyond the tolerance of {tolerance} s")
    # expected[0] is the current secret's MAC of the signed message: a function of the message alone.
    key = hashlib.sha256(b"\0".join([b"jobwire-replay", request.scope, preset.encode(), expected[0]])).hexdigest()
    # Remember it for as long as it would pass: through signed_at + tolerance inclusive, hence the extra second.
    ttl = timedelta(seconds=signed_at + tolerance + 1 - request.now.timestamp())
    if request.replay.seen_before(key, request.now, ttl):
        raise AuthFailure("ReplayedSignature", f"header {header}: this signed request was already accepted")


_PRESETS: dict[HmacPreset, Callable[[_Request], None]] = {
    HmacPreset.GENERIC: _verify_generic,
    HmacPreset.GITHUB: _verify_github,
    HmacPreset.STRIPE: _verify_stripe,
    HmacPreset.SLACK: _verify_slack,
}


# ---- tokens ------------------------------------------------------------------------------------------------------


def _verify_token(spec: TokenAuth, secrets: Secrets, headers: Mapping[str, str]) -> None:
    value = headers.get(spec.header.lower(), "").strip()
    if not value:
        raise AuthFailure("MissingToken", f"header {spec.header} is missing")
    if spec.header.lower() == "authorization":
        parts = value.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise AuthFailure("MissingToken", f"header {spec.header} holds no Bearer token")
        value = parts[1].strip()
    received = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
    # A header value never has surrounding whitespace, so a secret written with a trailing newline
    # (`echo` without -n) could never match: compare it without.
    expected = [hashlib.sha256(secret.strip()).digest() for secret in secrets.candidates()]
    if not _any_equal([received], expected):
        raise AuthFailure("BadToken", f"header {spec.header} does not hold a valid token")


def _token_header(spec: TokenAuth, secret: bytes) -> dict[str, str]:
    # verify compares the secret without surrounding whitespace (a trailing newline from `echo`): send it so too.
    try:
        token = secret.strip().decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("the token is not ASCII text, which a header cannot carry") from None
    if not token or not all(" " <= c < "\x7f" for c in token):
        raise ValueError("the token is empty or holds control characters, which a header cannot carry")
    if spec.header.lower() == "authorization":
        return {spec.header: f"Bearer {token}"}
    return {spec.header: token}


# ---- shared ------------------------------------------------------------------------------------------------------


def _required_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower(), "").strip()
    if not value:
        raise AuthFailure("MissingSignature", f"header {name} is missing")
    return value


def _mac(secret: bytes, algorithm: str, message: bytes) -> bytes:
    return hmac.new(secret, message, algorithm).digest()


def _macs(secrets: Secrets, algorithm: str, message: bytes) -> list[bytes]:
    return [_mac(secret, algorithm, message) for secret in secrets.candidates()]


def _any_equal(received: Sequence[bytes], expected: Sequence[bytes]) -> bool:
    """Every pair compared in constant time, no early exit: timing tells neither whether nor which one matched."""
    matched = False
    for candidate in received:
        for mac in expected:
            matched |= hmac.compare_digest(candidate, mac)
    return matched

"""Delivery callbacks: what every provider's webhook parser shares, and the registry the API picks one from.

Each provider's `webhook.py` (sendgrid, postmark, twilio, whatsapp_cloud) verifies the request first (its own
signature or credentials, compared in constant time) and only then reads the body into `DeliveryEvent`s. A
refusal is a `CallbackRefused` whose `kind` says which HTTP answer it deserves: a bad or missing signature
(401), a body that is not what the vendor sends (400), or a verification secret nobody configured (503).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from secrets import token_hex
from typing import Any, Literal

from domain.delivery import DeliveryEvent

RefusalKind = Literal["signature", "malformed", "unconfigured"]
# Where a sender puts our idempotency key so that the provider's events carry it back: SendGrid's custom_args
# and Postmark's Metadata under this name (WhatsApp's biz_opaque_callback_data is the key itself). With it a
# send recorded as unconfirmed (no provider id) is still found and settled.
KEY_FIELD = "aftercare_key"
MAX_EVENTS = 1000  # SendGrid batches up to ~1000 events per POST; anything bigger is not from a provider


class CallbackRefused(Exception):
    """The callback is not accepted; `kind` says why (see the module docstring). The message names the problem
    and never a secret or an address."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind: RefusalKind = kind


def json_body(body: bytes) -> Any:
    """The body as JSON, or a 400 naming where it broke (a truncated body fails here)."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CallbackRefused("malformed", f"body is not UTF-8 text: {exc.reason}") from None
    except ValueError as exc:
        raise CallbackRefused("malformed", f"malformed JSON body: {exc}") from None


def from_unix(value: Any, field: str) -> datetime:
    """A Unix timestamp (seconds, as a number or a string of digits) as an aware UTC time."""
    try:
        seconds = int(str(value).strip())
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise CallbackRefused("malformed", f"{field} must be a Unix timestamp in seconds, got {value!r:.40}") from None


def event_hash(*parts: Any) -> str:
    """An event id for vendors that send none: the fields that identify the event, hashed."""
    return hashlib.sha256(json.dumps(parts, default=str, separators=(",", ":")).encode()).hexdigest()[:40]


def text(value: Any, limit: int) -> str:
    """A vendor's free text, cut to what we keep."""
    return "" if value is None else str(value)[:limit]


@dataclass(frozen=True)
class CallbackRequest:
    """What a parser may read of the HTTP request: the raw body, the headers, and the URL the vendor called
    as the vendor saw it (Twilio signs it; behind a proxy it comes from `AFTERCARE_PUBLIC_BASE_URL`)."""

    body: bytes
    headers: Mapping[str, str]
    url: str


Parser = Callable[[CallbackRequest], list[DeliveryEvent]]
Handshake = Callable[[Mapping[str, str]], str]


@dataclass(frozen=True)
class CallbackSecrets:
    """The process-wide verification secrets, from settings (`AFTERCARE_*`); empty = not configured."""

    sendgrid_public_key: str = ""
    postmark_user: str = ""
    postmark_password: str = ""
    twilio_auth_token: str = ""
    whatsapp_app_secret: str = ""
    whatsapp_verify_token: str = ""


def merchant_secrets(provider: str, values: Mapping[str, str]) -> CallbackSecrets:
    """A merchant's own account's verification secrets for `provider`, named as `PROVIDER_CALLBACK_SECRETS` says
    (a missing one stays empty: that callback then answers as unconfigured)."""
    get = values.get
    if provider == "sendgrid":
        return CallbackSecrets(sendgrid_public_key=get("public_key", ""))
    if provider == "postmark":
        return CallbackSecrets(postmark_user=get("user", ""), postmark_password=get("password", ""))
    if provider == "twilio":
        return CallbackSecrets(twilio_auth_token=get("auth_token", ""))
    if provider == "whatsapp_cloud":
        return CallbackSecrets(whatsapp_app_secret=get("app_secret", ""), whatsapp_verify_token=get("verify_token", ""))
    return CallbackSecrets()


def refusing_secrets() -> CallbackSecrets:
    """Secrets nobody holds: a callback checked with them is refused exactly as one with a bad signature is (the
    answer for a merchant we do not know, which must not be told apart from a wrong signature)."""
    return CallbackSecrets(
        sendgrid_public_key=_nobodys_public_key(),
        postmark_user=token_hex(16),
        postmark_password=token_hex(32),
        twilio_auth_token=token_hex(32),
        whatsapp_app_secret=token_hex(32),
        whatsapp_verify_token=token_hex(32),
    )


@cache
def _nobodys_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()  # its private half is dropped at once
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@dataclass(frozen=True)
class ProviderCallbacks:
    """One provider's delivery callback: how to read a POST, and (WhatsApp) how to answer the GET handshake."""

    name: str
    parse: Parser
    handshake: Handshake | None = None


def build_callbacks(secrets: CallbackSecrets) -> dict[str, ProviderCallbacks]:
    """Every provider's callback parser by the name in `/v1/providers/{provider}/events`."""
    from connectors.messaging.postmark import webhook as postmark
    from connectors.messaging.sendgrid import webhook as sendgrid
    from connectors.messaging.twilio import webhook as twilio
    from connectors.messaging.whatsapp_cloud import webhook as whatsapp

    return {
        "sendgrid": ProviderCallbacks(
            "sendgrid", lambda r: sendgrid.parse(r.body, r.headers, secrets.sendgrid_public_key)
        ),
        "postmark": ProviderCallbacks(
            "postmark", lambda r: postmark.parse(r.body, r.headers, secrets.postmark_user, secrets.postmark_password)
        ),
        "twilio": ProviderCallbacks(
            "twilio", lambda r: twilio.parse(r.url, r.body, r.headers, secrets.twilio_auth_token)
        ),
        "whatsapp_cloud": ProviderCallbacks(
            "whatsapp_cloud",
            lambda r: whatsapp.parse(r.body, r.headers, secrets.whatsapp_app_secret),
            lambda query: whatsapp.handshake(query, secrets.whatsapp_verify_token),
        ),
    }

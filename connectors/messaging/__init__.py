"""Messaging connectors and the factory that picks one: email over SMTP, SendGrid or Postmark; SMS over
Twilio; WhatsApp over Twilio or Meta's WhatsApp Cloud API (approved templates)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import httpx

from connectors.messaging.base import (
    MessageLookup,
    MessageSender,
    MessagingError,
    OutgoingMessage,
    OutgoingTemplate,
    SendReceipt,
)
from connectors.messaging.postmark import PostmarkSender
from connectors.messaging.sendgrid import SendGridSender
from connectors.messaging.smtp import SECURITY_MODES, Security, SmtpEmailSender
from connectors.messaging.twilio import TwilioSender
from connectors.messaging.whatsapp_cloud import DEFAULT_VERSION, WhatsAppCloudSender
from domain import Channel
from domain.messages import CHANNEL_PROVIDERS, PROVIDER_CREDENTIALS

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Endpoints:
    """Where each provider is reached (the stack's settings; the sandbox's stand-ins by default)."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    twilio_base_url: str = ""
    sendgrid_base_url: str = ""
    postmark_base_url: str = ""
    whatsapp_base_url: str = ""
    whatsapp_version: str = DEFAULT_VERSION
    public_base_url: str = ""  # where providers reach our API: Twilio's StatusCallback is sent from it

    def status_callback(self, provider: str) -> str | None:
        """The delivery callback URL for `provider` (`/v1/providers/{provider}/events`), None without a public URL."""
        base = self.public_base_url.rstrip("/")
        return f"{base}/v1/providers/{provider}/events" if base else None


def build_sender(
    channel: Channel | str,
    provider: str,
    sender: str | None,
    credentials: dict[str, str],
    *,
    smtp_host: str = "127.0.0.1",
    smtp_port: int = 25,
    twilio_base_url: str = "",
    endpoints: Endpoints | None = None,
    http: httpx.AsyncClient | None = None,
) -> MessageSender:
    """The MessageSender for a merchant's channel and provider.

    `sender` is the default From (address, number, or WhatsApp phone number ID) for messages that carry
    none. `credentials` come from the merchant's configuration, keyed as `PROVIDER_CREDENTIALS` says:
    smtp: optional `host`, `port`, `username`, `password`, `security` (none, starttls, tls; overriding
    the stack's relay); sendgrid: `api_key`; postmark: `server_token`, optional `message_stream`;
    twilio: `account_sid`, `auth_token`, optional `base_url`; whatsapp_cloud: `access_token`, optional
    `phone_number_id`. Pass `http` to share one connection pool between the senders you build.
    A ValueError names what is wrong (never a credential's value).
    """
    channel = Channel(channel)
    provider = provider.lower()
    where = endpoints or Endpoints(smtp_host=smtp_host, smtp_port=smtp_port, twilio_base_url=twilio_base_url)
    if provider not in PROVIDER_CREDENTIALS:
        choices = "; ".join(f"{c.value}: {', '.join(p)}" for c, p in CHANNEL_PROVIDERS.items())
        raise ValueError(f"unknown messaging provider {provider!r}: choose per channel ({choices})")
    if provider not in CHANNEL_PROVIDERS[channel]:
        sends = " or ".join(c.value for c, names in CHANNEL_PROVIDERS.items() if provider in names)
        raise ValueError(
            f"provider {provider!r} sends {sends}, not {channel}"
            f" ({channel} can use {', '.join(CHANNEL_PROVIDERS[channel])})"
        )
    required, _ = PROVIDER_CREDENTIALS[provider]
    missing = [k for k in required if not credentials.get(k)]
    if missing:
        raise ValueError(f"provider {provider!r} needs credentials {', '.join(missing)}")
    if provider == "smtp":
        return _smtp(credentials, where, sender)
    if provider == "twilio":
        return TwilioSender(
            channel,
            credentials.get("base_url") or where.twilio_base_url,
            credentials["account_sid"],
            credentials["auth_token"],
            http=http,
            default_sender=sender,
            status_callback=where.status_callback("twilio"),
        )
    if provider == "sendgrid":
        return SendGridSender(
            _base(where.sendgrid_base_url, "sendgrid"), credentials["api_key"], http=http, default_sender=sender
        )
    if provider == "postmark":
        return PostmarkSender(
            _base(where.postmark_base_url, "postmark"),
            credentials["server_token"],
            http=http,
            message_stream=credentials.get("message_stream") or None,
            default_sender=sender,
        )
    return WhatsAppCloudSender(
        _base(where.whatsapp_base_url, "whatsapp_cloud"),
        credentials["access_token"],
        http=http,
        phone_number_id=credentials.get("phone_number_id") or None,
        version=where.whatsapp_version,
        default_sender=sender,
    )


def _base(url: str, provider: str) -> str:
    if not url:
        raise ValueError(f"no base URL for provider {provider!r} in this worker")
    return url


def _smtp(credentials: dict[str, str], where: Endpoints, sender: str | None) -> SmtpEmailSender:
    port = credentials.get("port")
    if port and not port.isdigit():
        raise ValueError("the SMTP port credential is not a number")
    security = (credentials.get("security") or "").lower()
    if not security and credentials.get("starttls", "").lower() in _TRUE:  # the older spelling
        security = "starttls"
    if security and security not in SECURITY_MODES:
        raise ValueError(f"the SMTP security credential must be one of {', '.join(SECURITY_MODES)}")
    return SmtpEmailSender(
        credentials.get("host") or where.smtp_host,
        int(port) if port else where.smtp_port,
        username=credentials.get("username") or None,
        password=credentials.get("password") or None,
        default_sender=sender,
        security=cast(Security, security or "none"),  # checked against SECURITY_MODES above
    )


__all__ = [
    "CHANNEL_PROVIDERS",
    "PROVIDER_CREDENTIALS",
    "Endpoints",
    "MessageLookup",
    "MessageSender",
    "MessagingError",
    "OutgoingMessage",
    "OutgoingTemplate",
    "PostmarkSender",
    "SendGridSender",
    "SendReceipt",
    "SmtpEmailSender",
    "TwilioSender",
    "WhatsAppCloudSender",
    "build_sender",
]

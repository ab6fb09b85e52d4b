"""Messaging connectors (email over SMTP, SMS and WhatsApp over Twilio) and the factory that picks one."""

from __future__ import annotations

import httpx

from connectors.messaging.base import (
    MessageSender,
    MessagingError,
    OutgoingMessage,
    SendReceipt,
)
from connectors.messaging.smtp import SmtpEmailSender
from connectors.messaging.twilio import TwilioSender
from domain import Channel

_TRUE = {"1", "true", "yes", "on"}


def build_sender(
    channel: Channel | str,
    provider: str,
    sender: str | None,
    credentials: dict[str, str],
    *,
    smtp_host: str,
    smtp_port: int,
    twilio_base_url: str,
    http: httpx.AsyncClient | None = None,
) -> MessageSender:
    """The MessageSender for a merchant's channel and provider.

    `sender` is the default From (address or number) for messages that carry none. `credentials`
    come from the merchant's configuration: for "smtp" optional `host`, `port`, `username`,
    `password`, `starttls` (override the stack's SMTP relay); for "twilio" `account_sid` and
    `auth_token` (required) and optional `base_url`. Pass `http` to share one connection pool
    between the senders you build (otherwise each Twilio sender owns a client; close it with `aclose()`).
    """
    channel = Channel(channel)
    provider = provider.lower()
    if provider == "smtp":
        if channel is not Channel.EMAIL:
            raise ValueError(f"provider 'smtp' sends email, not {channel}")
        port = credentials.get("port")
        return SmtpEmailSender(
            credentials.get("host") or smtp_host,
            int(port) if port else smtp_port,
            username=credentials.get("username") or None,
            password=credentials.get("password") or None,
            starttls=credentials.get("starttls", "").lower() in _TRUE,
            default_sender=sender,
        )
    if provider == "twilio":
        if channel not in (Channel.SMS, Channel.WHATSAPP):
            raise ValueError(f"provider 'twilio' sends sms or whatsapp, not {channel}")
        missing = [k for k in ("account_sid", "auth_token") if not credentials.get(k)]
        if missing:
            raise ValueError(f"provider 'twilio' needs credentials {', '.join(missing)}")
        return TwilioSender(
            channel,
            credentials.get("base_url") or twilio_base_url,
            credentials["account_sid"],
            credentials["auth_token"],
            http=http,
            default_sender=sender,
        )
    raise ValueError(f"unknown messaging provider {provider!r}: choose 'smtp' (email) or 'twilio' (sms, whatsapp)")


__all__ = [
    "MessageSender",
    "MessagingError",
    "OutgoingMessage",
    "SendReceipt",
    "SmtpEmailSender",
    "TwilioSender",
    "build_sender",
]

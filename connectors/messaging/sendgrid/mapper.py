"""Our OutgoingMessage -> SendGrid's Mail Send body. Pure: no HTTP."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from connectors.messaging.base import OutgoingMessage
from connectors.messaging.callbacks import KEY_FIELD
from connectors.messaging.sendgrid.models import Content, EmailAddress, MailSend, Personalization

IDEMPOTENCY_ARG = KEY_FIELD  # the event webhook carries custom_args back: connectors.messaging.callbacks
"""The `custom_args` key carrying our outbox row's idempotency key: SendGrid repeats custom_args on every
event webhook of the message, which is how a delivery callback finds its outbox row."""


def address(value: str) -> EmailAddress:
    """`Shop <orders@shop.example>` -> {"email": "orders@shop.example", "name": "Shop"}."""
    name, email = parseaddr(value)
    return EmailAddress(email=email or value.strip(), name=name or None)


def mail_send(message: OutgoingMessage, sender: str) -> dict[str, Any]:
    """The JSON body. text/plain first, then text/html: SendGrid wants the content in that order."""
    content = [Content(type="text/plain", value=message.text)]
    if message.html:
        content.append(Content(type="text/html", value=message.html))
    body = MailSend(
        personalizations=[Personalization(to=[address(message.recipient)])],
        from_=address(sender),
        subject=message.subject or "",
        content=content,
        custom_args={IDEMPOTENCY_ARG: message.idempotency_key},
    )
    return body.model_dump(by_alias=True, exclude_none=True)

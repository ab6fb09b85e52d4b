"""Our OutgoingMessage -> Postmark's Email body. Pure: no HTTP."""

from __future__ import annotations

from typing import Any

from connectors.messaging.base import OutgoingMessage
from connectors.messaging.callbacks import KEY_FIELD
from connectors.messaging.postmark.models import Email

IDEMPOTENCY_METADATA = KEY_FIELD  # webhooks carry Metadata back: connectors.messaging.callbacks
"""The `Metadata` key carrying our outbox row's idempotency key back on Postmark's webhooks."""
DEFAULT_STREAM = "outbound"  # every Postmark server's default transactional stream


def email(message: OutgoingMessage, sender: str, stream: str = DEFAULT_STREAM) -> dict[str, Any]:
    body = Email(
        From=sender,
        To=message.recipient,
        Subject=message.subject or "",
        TextBody=message.text,
        HtmlBody=message.html,
        MessageStream=stream,
        Metadata={IDEMPOTENCY_METADATA: message.idempotency_key},
    )
    return body.model_dump(exclude_none=True)

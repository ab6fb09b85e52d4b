"""What the messaging sender tests (Postmark, SendGrid, WhatsApp Cloud, Twilio, SMTP) do alike."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping

import httpx
import pytest

from connectors.messaging.base import MessagingError, OutgoingMessage
from domain import Channel

# The order-shipped email the API senders (Postmark, SendGrid) are asked to send.
SHIPPED_EMAIL: dict[str, object] = {
    "channel": Channel.EMAIL,
    "recipient": "ada@example.com",
    "sender": "Acme Coffee <orders@acme.example>",
    "subject": "Your order 1001 is on its way",
    "text": "Hi Ada, your order 1001 shipped.",
    "html": "<p>Hi Ada, your order 1001 shipped.</p>",
    "idempotency_key": "order~acme~1001:shipped:email",
}


def outgoing(fields: Mapping[str, object], overrides: Mapping[str, object]) -> OutgoingMessage:
    """The message `fields` describe, with `overrides` in their place."""
    return OutgoingMessage.model_validate({**fields, **overrides})


def shipped_email(**overrides: object) -> OutgoingMessage:
    """SHIPPED_EMAIL, with `overrides` in its place."""
    return outgoing(SHIPPED_EMAIL, overrides)


async def sandbox_requests(control: httpx.AsyncClient, vendor: str) -> list[dict]:
    """What the sandbox's `vendor` was sent, oldest first."""
    return (await control.get(f"/_sandbox/{vendor}/requests")).json()["requests"]


async def fail_next(control: httpx.AsyncClient, vendor: str, **fields: object) -> None:
    """The sandbox's `vendor` answers its next call as `fields` say (status_code, delay_seconds, ...)."""
    await control.post(f"/_sandbox/{vendor}/fail-next", json=fields)


async def revoke_key(control: httpx.AsyncClient, vendor: str, key: str) -> None:
    """The sandbox's `vendor` no longer accepts `key`."""
    await control.post(f"/_sandbox/{vendor}/revoke-key", json={"key": key})


async def messaging_error(call: Awaitable[object], match: str) -> MessagingError:
    """The MessagingError `call` raises, its message matching `match`."""
    with pytest.raises(MessagingError, match=match) as caught:
        await call
    return caught.value

"""What every messaging provider connector offers: send one rendered message, say clearly if it failed."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from domain import Channel


class OutgoingMessage(BaseModel):
    """A rendered message ready for a provider. `idempotency_key` travels to the provider where it can."""

    channel: Channel
    recipient: str
    sender: str
    text: str
    subject: str | None = None
    html: str | None = None
    idempotency_key: str


class SendReceipt(BaseModel):
    provider_message_id: str
    accepted_at: datetime


class MessagingError(Exception):
    """A provider refused or failed. `retryable` is False when trying again cannot help (bad number...).

    `maybe_sent` is True when the provider may have accepted the message before the failure showed
    (e.g. the connection dropped after the request went out): the caller must not blindly resend.
    """

    def __init__(self, message: str, *, retryable: bool, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.maybe_sent = maybe_sent


class MessageSender(Protocol):
    channel: Channel

    async def send(self, message: OutgoingMessage) -> SendReceipt: ...

"""Postmark's HTTP call: `POST {base}/email` with the `X-Postmark-Server-Token` header.

Success is HTTP 200 with `ErrorCode` 0 and the `MessageID` we record in the outbox; Postmark's webhooks
name the same MessageID. `lookup` asks the Outbound message search whether Postmark has a message with our key
(to settle a send an attempt left in flight).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from connectors.messaging.base import MessagingError, OutgoingMessage, SendReceipt
from connectors.messaging.http import json_object, post, wrong_base_url
from connectors.messaging.postmark.error import postmark_error
from connectors.messaging.postmark.lookup import find_sent, search_query
from connectors.messaging.postmark.mapper import DEFAULT_STREAM, email
from domain import Channel

TOKEN_HEADER = "X-Postmark-Server-Token"


class PostmarkSender:
    """MessageSender for email through one Postmark server (its server token) and message stream."""

    channel = Channel.EMAIL
    provider = "Postmark"
    name = "postmark"

    def __init__(
        self,
        base_url: str,
        server_token: str,
        http: httpx.AsyncClient | None = None,
        *,
        message_stream: str | None = None,
        default_sender: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {TOKEN_HEADER: server_token, "Accept": "application/json"}
        self.message_stream = message_stream or DEFAULT_STREAM
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._timeout = timeout
        self.default_sender = default_sender

    @property
    def send_url(self) -> str:
        return f"{self.base_url}/email"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if message.channel is not Channel.EMAIL:
            raise MessagingError(f"Postmark sends email, not {message.channel}", retryable=False)
        sender = message.sender or self.default_sender
        if not sender:
            raise MessagingError(
                "no From address: set the policy's email sender (channels.email.sender)", retryable=False
            )
        resp = await post(
            self._http,
            self.send_url,
            vendor="Postmark",
            base_url=self.base_url,
            timeout=self._timeout,
            json=email(message, sender, self.message_stream),
            headers=self._headers,
        )
        body = json_object(resp)
        if resp.is_success and body.get("ErrorCode", 0) == 0:
            message_id = body.get("MessageID")
            if not message_id:
                raise MessagingError(
                    f"Postmark answered HTTP {resp.status_code} without a MessageID", retryable=True, maybe_sent=True
                )
            return SendReceipt(provider_message_id=str(message_id), accepted_at=datetime.now(UTC))
        if resp.status_code in (404, 405) and "ErrorCode" not in body:
            raise wrong_base_url("Postmark", resp.status_code, self.base_url)
        raise postmark_error(resp.status_code, body)

    async def lookup(self, message: OutgoingMessage, since: datetime) -> SendReceipt | None:
        """Postmark's message carrying our key (its Metadata), None when it has none; MessagingError when it
        cannot be asked. `since` is not needed: the key names one message."""
        try:
            resp = await self._http.get(
                f"{self.base_url}/messages/outbound",
                params=search_query(message.idempotency_key, self.message_stream),
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            raise MessagingError(f"Postmark's message search could not be read: {exc!r}", retryable=True) from exc
        body = json_object(resp)
        if not resp.is_success:
            if resp.status_code in (404, 405) and "ErrorCode" not in body:
                raise wrong_base_url("Postmark", resp.status_code, self.base_url)
            raise postmark_error(resp.status_code, body)
        return find_sent(body, message.idempotency_key)

"""Postmark's HTTP call: `POST {base}/email` with the `X-Postmark-Server-Token` header.

Success is HTTP 200 with `ErrorCode` 0 and the `MessageID` we record in the outbox; Postmark's webhooks
name the same MessageID. `lookup` asks the Outbound message search whether Postmark has a message with our key
(to settle a send an attempt left in flight).
"""

from __future__ import annotations

from datetime import datetime

import httpx

from connectors.http import VendorHttp
from connectors.messaging.base import OutgoingMessage, SendReceipt
from connectors.messaging.http import check_base_url, email_sender, json_object, post, read, receipt
from connectors.messaging.postmark.error import postmark_error
from connectors.messaging.postmark.lookup import find_sent, search_query
from connectors.messaging.postmark.mapper import DEFAULT_STREAM, email
from domain import Channel

TOKEN_HEADER = "X-Postmark-Server-Token"


class PostmarkSender(VendorHttp):
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
        super().__init__(base_url, http, timeout)
        self._headers = {TOKEN_HEADER: server_token, "Accept": "application/json"}
        self.message_stream = message_stream or DEFAULT_STREAM
        self.default_sender = default_sender

    @property
    def send_url(self) -> str:
        return f"{self.base_url}/email"

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        sender = email_sender(message, "Postmark", self.default_sender)
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
            return receipt(message_id, vendor="Postmark", status=resp.status_code, naming="a MessageID")
        check_base_url(resp, body, vendor="Postmark", error_field="ErrorCode", base_url=self.base_url)
        raise postmark_error(resp.status_code, body)

    async def lookup(self, message: OutgoingMessage, since: datetime) -> SendReceipt | None:
        """Postmark's message carrying our key (its Metadata), None when it has none; MessagingError when it
        cannot be asked. `since` is not needed: the key names one message."""
        resp = await read(
            self._http,
            f"{self.base_url}/messages/outbound",
            what="Postmark's message search",
            timeout=self._timeout,
            params=search_query(message.idempotency_key, self.message_stream),
            headers=self._headers,
        )
        body = json_object(resp)
        if not resp.is_success:
            check_base_url(resp, body, vendor="Postmark", error_field="ErrorCode", base_url=self.base_url)
            raise postmark_error(resp.status_code, body)
        return find_sent(body, message.idempotency_key)

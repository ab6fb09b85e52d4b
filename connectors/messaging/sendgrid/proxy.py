"""SendGrid's HTTP call: `POST {base}/v3/mail/send` with `Authorization: Bearer <API key>`.

SendGrid answers 202 Accepted with an empty body and the message id in the `X-Message-Id` header; that
id (the start of every event's `sg_message_id`) is the receipt we record in the outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from connectors.messaging.base import MessagingError, OutgoingMessage, SendReceipt
from connectors.messaging.http import json_object, post, wrong_base_url
from connectors.messaging.sendgrid.error import sendgrid_error
from connectors.messaging.sendgrid.mapper import mail_send
from domain import Channel


class SendGridSender:
    """MessageSender for email through one SendGrid account (its API key)."""

    channel = Channel.EMAIL
    provider = "SendGrid"
    name = "sendgrid"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        http: httpx.AsyncClient | None = None,
        *,
        default_sender: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._timeout = timeout
        self.default_sender = default_sender

    @property
    def send_url(self) -> str:
        return f"{self.base_url}/v3/mail/send"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if message.channel is not Channel.EMAIL:
            raise MessagingError(f"SendGrid sends email, not {message.channel}", retryable=False)
        sender = message.sender or self.default_sender
        if not sender:
            raise MessagingError(
                "no From address: set the policy's email sender (channels.email.sender)", retryable=False
            )
        resp = await post(
            self._http,
            self.send_url,
            vendor="SendGrid",
            base_url=self.base_url,
            timeout=self._timeout,
            json=mail_send(message, sender),
            headers=self._headers,
        )
        if resp.is_success:
            message_id = resp.headers.get("X-Message-Id")
            if not message_id:
                raise MessagingError(
                    f"SendGrid answered HTTP {resp.status_code} without an X-Message-Id",
                    retryable=True,
                    maybe_sent=True,
                )
            return SendReceipt(provider_message_id=message_id, accepted_at=datetime.now(UTC))
        body = json_object(resp)
        if resp.status_code in (404, 405) and "errors" not in body:
            raise wrong_base_url("SendGrid", resp.status_code, self.base_url)
        raise sendgrid_error(resp.status_code, body)

"""SendGrid's HTTP call: `POST {base}/v3/mail/send` with `Authorization: Bearer <API key>`.

SendGrid answers 202 Accepted with an empty body and the message id in the `X-Message-Id` header; that
id (the start of every event's `sg_message_id`) is the receipt we record in the outbox.
"""

from __future__ import annotations

import httpx

from connectors.http import VendorHttp
from connectors.messaging.base import OutgoingMessage, SendReceipt
from connectors.messaging.http import check_base_url, email_sender, json_object, post, receipt
from connectors.messaging.sendgrid.error import sendgrid_error
from connectors.messaging.sendgrid.mapper import mail_send
from domain import Channel


class SendGridSender(VendorHttp):
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
        super().__init__(base_url, http, timeout)
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self.default_sender = default_sender

    @property
    def send_url(self) -> str:
        return f"{self.base_url}/v3/mail/send"

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        sender = email_sender(message, "SendGrid", self.default_sender)
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
            return receipt(message_id, vendor="SendGrid", status=resp.status_code, naming="an X-Message-Id")
        body = json_object(resp)
        check_base_url(resp, body, vendor="SendGrid", error_field="errors", base_url=self.base_url)
        raise sendgrid_error(resp.status_code, body)

"""WhatsApp Cloud API's HTTP call: `POST {base}/{version}/{phone_number_id}/messages`, Bearer token.

Only approved template messages are sent: a business may write first, or again after the customer's
24-hour window closed, only with a template. The answer's `messages[0].id` (a `wamid.`) is the receipt
we record; the status webhooks name it.
"""

from __future__ import annotations

import re

import httpx

from connectors.http import VendorHttp
from connectors.messaging.base import MessagingError, OutgoingMessage, SendReceipt
from connectors.messaging.http import check_base_url, json_object, post, receipt
from connectors.messaging.whatsapp_cloud.error import whatsapp_error
from connectors.messaging.whatsapp_cloud.mapper import WHATSAPP_PREFIX, template_message
from domain import Channel

DEFAULT_VERSION = "v21.0"
PHONE_NUMBER_ID = re.compile(r"^\d{1,32}$")


class WhatsAppCloudSender(VendorHttp):
    """MessageSender for WhatsApp through one business phone number (its ID) and access token.

    `phone_number_id` is the number's ID in Meta's WhatsApp Manager (not the phone number itself);
    None: the message's sender (the policy's `channels.whatsapp.sender`) is used as the ID.
    """

    channel = Channel.WHATSAPP
    provider = "WhatsApp Cloud API"
    name = "whatsapp_cloud"

    def __init__(
        self,
        base_url: str,
        access_token: str,
        http: httpx.AsyncClient | None = None,
        *,
        phone_number_id: str | None = None,
        version: str = DEFAULT_VERSION,
        default_sender: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(base_url, http, timeout)
        self.version = version.strip("/") or DEFAULT_VERSION
        self.phone_number_id = phone_number_id
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self.default_sender = default_sender

    def messages_url(self, phone_number_id: str) -> str:
        return f"{self.base_url}/{self.version}/{phone_number_id}/messages"

    def _number_id(self, message: OutgoingMessage) -> str:
        number_id = self.phone_number_id or message.sender or self.default_sender or ""
        if not PHONE_NUMBER_ID.match(number_id):
            raise MessagingError(
                "the WhatsApp Cloud API sends from a phone number ID (digits, from WhatsApp Manager), not "
                f"{number_id!r}: set channels.whatsapp.sender (or credentials_env.phone_number_id) to it",
                retryable=False,
            )
        return number_id

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if message.channel is not Channel.WHATSAPP:
            raise MessagingError(f"the WhatsApp Cloud API sends whatsapp, not {message.channel}", retryable=False)
        if message.template is None:
            raise MessagingError(
                "the WhatsApp Cloud API sends approved templates only and this step names none: add it under"
                " channels.whatsapp.templates in the policy",
                retryable=False,
            )
        number_id = self._number_id(message)
        resp = await post(
            self._http,
            self.messages_url(number_id),
            vendor="WhatsApp Cloud API",
            base_url=self.base_url,
            timeout=self._timeout,
            json=template_message(message, message.template),
            headers=self._headers,
        )
        body = json_object(resp)
        if resp.is_success:
            messages = body.get("messages")
            first = messages[0] if isinstance(messages, list) and messages else None
            wamid = first.get("id") if isinstance(first, dict) else None
            return receipt(wamid, vendor="WhatsApp Cloud API", status=resp.status_code, naming="messages[0].id")
        check_base_url(resp, body, vendor="WhatsApp Cloud API", error_field="error", base_url=self.base_url)
        # the Graph API may name the number without its "+": take that form out too
        digits = message.recipient.removeprefix(WHATSAPP_PREFIX).lstrip("+")
        raise whatsapp_error(resp.status_code, body).without_recipient(digits) from None

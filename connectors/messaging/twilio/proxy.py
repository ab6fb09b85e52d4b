"""Twilio's HTTP calls: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, and the
Message list on the same path (`GET`, to settle a send an attempt left in flight: see `lookup`).

`To`, `From`, `Body`, HTTP basic auth (Account SID, Auth Token), and `StatusCallback` (where Twilio posts the
message's status changes) when the stack has a public URL. WhatsApp uses the same endpoint with `whatsapp:` in
front of both numbers.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import httpx

from connectors.http import VendorHttp
from connectors.messaging.base import MessagingError, OutgoingMessage, SendReceipt
from connectors.messaging.http import json_object, post, read, receipt
from connectors.messaging.twilio.error import twilio_error
from connectors.messaging.twilio.lookup import PAGE_SIZE, find_sent
from domain import Channel

WHATSAPP_PREFIX = "whatsapp:"


class TwilioSender(VendorHttp):
    """MessageSender for `Channel.SMS` or `Channel.WHATSAPP` through one Twilio account.

    `default_sender` is the From number used when a message carries none. `status_callback` is the URL Twilio
    posts each status change of a message to (`{public base URL}/v1/providers/twilio/events`); None: the
    account's or Messaging Service's own setting.
    """

    def __init__(
        self,
        channel: Channel,
        base_url: str,
        account_sid: str,
        auth_token: str,
        http: httpx.AsyncClient | None = None,
        *,
        default_sender: str | None = None,
        status_callback: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if channel not in (Channel.SMS, Channel.WHATSAPP):
            raise ValueError(f"Twilio sends sms or whatsapp, not {channel}")
        self.channel: Channel = channel
        self.provider = "Twilio"
        super().__init__(base_url, http, timeout)
        self.account_sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self.default_sender = default_sender
        self.status_callback = status_callback or None

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def _address(self, number: str) -> str:
        if self.channel is Channel.WHATSAPP and not number.startswith(WHATSAPP_PREFIX):
            return WHATSAPP_PREFIX + number
        return number

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if message.channel is not self.channel:
            raise MessagingError(
                f"this Twilio sender sends {self.channel}, not {message.channel}: "
                "the worker wired this sender to the wrong channel",
                retryable=False,
            )
        sender = message.sender or self.default_sender
        if not sender:
            raise MessagingError(
                f"no From number: set the policy's {self.channel} sender (channels.{self.channel}.sender)",
                retryable=False,
            )
        form = {"To": self._address(message.recipient), "From": self._address(sender), "Body": message.text}
        if self.status_callback:
            merchant = f"?{urlencode({'merchant_id': message.callback_merchant})}" if message.callback_merchant else ""
            form["StatusCallback"] = self.status_callback + merchant
        resp = await post(
            self._http,
            self.messages_url,
            vendor="Twilio",
            base_url=self.base_url,
            timeout=self._timeout,
            data=form,
            auth=self._auth,
        )
        body = json_object(resp)
        if resp.is_success:
            sid = body.get("sid")
            return receipt(sid, vendor="Twilio", status=resp.status_code, naming="a message sid")
        raise twilio_error(resp.status_code, body)

    async def lookup(self, message: OutgoingMessage, since: datetime) -> SendReceipt | None:
        """The message in Twilio's Message list (same To, From and Body, created since the interrupted attempt):
        its receipt, None when Twilio has none, MessagingError when Twilio cannot be asked or the list cannot
        tell (see `lookup.find_sent`)."""
        sender = message.sender or self.default_sender
        if not sender:
            raise MessagingError("no From number to look the message up by", retryable=False)
        query = urlencode({"To": self._address(message.recipient), "From": self._address(sender),
                           "PageSize": PAGE_SIZE})  # fmt: skip
        url = f"{self.messages_url}?{query}"
        resp = await read(self._http, url, what="Twilio's message list", timeout=self._timeout, auth=self._auth)
        if not resp.is_success:
            raise twilio_error(resp.status_code, json_object(resp))
        try:
            page = resp.json()
        except ValueError:
            raise MessagingError("Twilio's message list is not JSON", retryable=True) from None
        return find_sent(page, message.text, since)

"""SMS and WhatsApp through Twilio's Programmable Messaging API.

`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From`, `Body`, HTTP
basic auth (Account SID, Auth Token). WhatsApp uses the same endpoint with `whatsapp:` in front of
both numbers. Failures come back as `{"code", "message", "more_info", "status"}`; the `code` decides
whether trying again can help, and whether the recipient (`RECIPIENT_CODES`) or our setup
(`CONFIGURATION_CODES`) is the problem.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.messaging.base import MessagingError, OutgoingMessage, SendReceipt, Suppression
from domain import Channel

WHATSAPP_PREFIX = "whatsapp:"

# Twilio error codes that will fail the same way however often we retry, in two kinds.
#
# The recipient is the problem: an invalid, unreachable or unsubscribed number. The message is skipped
# for this customer; `RECIPIENT_SUPPRESSIONS` says which answers mean "never try this number again".
RECIPIENT_CODES: dict[int, str] = {
    21211: "invalid 'To' phone number",
    21610: "recipient has unsubscribed (replied STOP)",
    21612: "the 'To' number cannot be reached from the 'From' number",
    21614: "'To' is not a mobile number",
    63003: "WhatsApp: channel could not find the 'To' address (not a WhatsApp user)",
    63024: "WhatsApp: invalid message recipient (cannot receive WhatsApp messages)",
}
# 21612 and 63024 get no suppression: another From number, or a later app version, may reach them.
RECIPIENT_SUPPRESSIONS: dict[int, Suppression] = {
    21610: "opted_out",
    21211: "bounced",
    21614: "bounced",
    63003: "bounced",
}
# Our setup is the problem (account, credentials, sender, permissions, content): someone has to fix it.
# 21408 belongs here: the account's Geo Permissions do not allow the recipient's country, which the
# merchant can change in Twilio's console; it is not something the customer did.
CONFIGURATION_CODES: dict[int, str] = {
    10001: "the Twilio account is not active (suspended or out of funds: check it in Twilio's console)",
    20003: "authentication failed (check the Account SID and Auth Token)",
    20005: "the Twilio account is not active (suspended, out of funds or trial not activated)",
    20404: "resource not found (check the Account SID)",
    21212: "invalid 'From' phone number (check the policy's sender)",
    21408: "sending to this region is not enabled (allow the country in Twilio's Messaging Geo Permissions)",
    21602: "message body is required (check the message template)",
    21603: "a 'From' number is required (set the policy's sender)",
    21604: "a 'To' number is required",
    21606: "the 'From' number cannot send this kind of message (check the policy's sender)",
    21608: "trial accounts can only send to verified numbers (upgrade the Twilio account or verify the number)",
    21617: "message body too long (shorten the message template)",
    63007: "WhatsApp: no channel found for the 'From' address (check the policy's whatsapp sender)",
    63016: "WhatsApp: outside the 24-hour window, a template is required",
}
PERMANENT_CODES: dict[int, str] = CONFIGURATION_CODES | RECIPIENT_CODES
# Codes Twilio documents as temporary (queue overflow, rate limits).
TEMPORARY_CODES: dict[int, str] = {
    20429: "too many requests",
    21611: "the 'From' number's queue is full",
    30001: "queue overflow",
}


class TwilioSender:
    """MessageSender for `Channel.SMS` or `Channel.WHATSAPP` through one Twilio account.

    `default_sender` is the From number used when a message carries none.
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
        timeout: float = 10.0,
    ) -> None:
        if channel not in (Channel.SMS, Channel.WHATSAPP):
            raise ValueError(f"Twilio sends sms or whatsapp, not {channel}")
        self.channel = channel
        self.provider = "Twilio"
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._timeout = timeout
        self.default_sender = default_sender

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

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
        try:
            resp = await self._http.post(self.messages_url, data=form, auth=self._auth, timeout=self._timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # the request never reached Twilio
            raise MessagingError(f"Twilio unreachable at {self.base_url}: {exc!r}", retryable=True) from exc
        except httpx.TransportError as exc:
            # the request went out (or partly) and the answer was lost: Twilio may have queued it
            raise MessagingError(
                f"Twilio did not answer after the request was sent ({exc!r}); the message may have gone out",
                retryable=True,
                maybe_sent=True,
            ) from exc
        body = _json(resp)
        if resp.is_success:
            sid = body.get("sid")
            if not sid:
                raise MessagingError(
                    f"Twilio answered HTTP {resp.status_code} without a message sid",
                    retryable=True,
                    maybe_sent=True,
                )
            return SendReceipt(provider_message_id=str(sid), accepted_at=datetime.now(UTC))
        raise _error(resp.status_code, body)


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, body: dict[str, Any]) -> MessagingError:
    """Twilio's error JSON to a MessagingError; the code decides, the HTTP status is the fallback."""
    raw_code = body.get("code")
    code = int(raw_code) if isinstance(raw_code, int | str) and str(raw_code).isdigit() else None
    text = str(body.get("message") or "")
    label = f"Twilio error {code}" if code is not None else f"Twilio HTTP {status}"
    if code in PERMANENT_CODES:
        known = PERMANENT_CODES[code]
        return MessagingError(
            f"{label}: {f'{text}; {known}' if text else known} (HTTP {status})",
            retryable=False,
            recipient_fault=code in RECIPIENT_CODES,
            suppression=RECIPIENT_SUPPRESSIONS.get(code),
        )
    if code in TEMPORARY_CODES:
        retryable = True
        text = text or TEMPORARY_CODES[code]
    else:
        retryable = status == 429 or status >= 500
    return MessagingError(f"{label}: {text or 'no details'} (HTTP {status})", retryable=retryable)

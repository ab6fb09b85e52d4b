"""Twilio's status callbacks: check `X-Twilio-Signature`, then read the form.

Twilio signs every webhook: HMAC-SHA1, keyed with the account's Auth Token, over the full URL it called
(scheme, host, path and query, exactly as configured in the StatusCallback) followed by every POST parameter
sorted by name, each name immediately followed by its value; base64. Behind a proxy the URL Twilio called is
not the one we see: `AFTERCARE_PUBLIC_BASE_URL` gives its scheme and host. The body is form-encoded:
`MessageSid`, `MessageStatus`, `ErrorCode` (on failures), `To`, `From`, `AccountSid`, ...
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

from connectors.messaging.callbacks import CallbackRefused, text
from connectors.messaging.twilio.proxy import WHATSAPP_PREFIX
from connectors.messaging.twilio.units_events import map_status
from connectors.webhooks import header, same
from domain import Channel
from domain.delivery import DeliveryEvent

SIGNATURE_HEADER = "X-Twilio-Signature"
PROVIDER = "twilio"


def sign(url: str, params: Sequence[tuple[str, str]], auth_token: str) -> str:
    """The `X-Twilio-Signature` Twilio sends for a POST of `params` to `url`."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def form(body: bytes) -> list[tuple[str, str]]:
    """The POST parameters of a form-encoded body, blanks kept (they are signed too)."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CallbackRefused("malformed", f"body is not a form-encoded Twilio callback: {exc}") from None


def verify(url: str, params: Sequence[tuple[str, str]], headers: Mapping[str, str], auth_token: str) -> None:
    """Raise CallbackRefused unless the request carries Twilio's signature for `url` and `params`."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise CallbackRefused("signature", f"missing {SIGNATURE_HEADER} header")
    if not auth_token:
        raise CallbackRefused(
            "unconfigured", "no Twilio auth token to check callbacks: set AFTERCARE_TWILIO_AUTH_TOKEN"
        )
    if not same(given.strip(), sign(url, params, auth_token)):
        raise CallbackRefused(
            "signature",
            f"bad signature in {SIGNATURE_HEADER} (wrong auth token, or the URL Twilio called is not {url!r}:"
            " set AFTERCARE_PUBLIC_BASE_URL behind a proxy)",
        )


def parse(url: str, body: bytes, headers: Mapping[str, str], auth_token: str) -> list[DeliveryEvent]:
    """The event of a verified status callback (none for inbound-message statuses). The form is split into its
    parameters first, because the signature covers them; none is read before the signature is checked."""
    params = form(body)
    verify(url, params, headers, auth_token)
    fields = dict(params)
    sid, status = fields.get("MessageSid") or fields.get("SmsSid"), fields.get("MessageStatus")
    if not sid:
        raise CallbackRefused("malformed", "no MessageSid in the Twilio callback")
    if not status:
        raise CallbackRefused("malformed", "no MessageStatus in the Twilio callback")
    raw_code = (fields.get("ErrorCode") or "").strip()
    if raw_code and not raw_code.isdigit():
        raise CallbackRefused("malformed", f"ErrorCode must be a number, got {raw_code[:20]!r}")
    code = int(raw_code) if raw_code else None
    mapped = map_status(status, code)
    if mapped is None:
        return []
    to = fields.get("To") or ""
    channel = Channel.WHATSAPP if to.startswith(WHATSAPP_PREFIX) else Channel.SMS
    return [
        DeliveryEvent(
            provider=PROVIDER,
            channels=(channel,),
            event_id=text(f"{sid}:{status}:{raw_code}", 300),
            provider_message_id=text(sid, 300),
            vendor_event=text(status if code is None else f"{status} ({code})", 100),
            status=mapped[0],
            suppress=mapped[1],
            recipient=text(to.removeprefix(WHATSAPP_PREFIX), 320) or None,
            detail=f"Twilio error {code}" if code is not None else "",
        )
    ]

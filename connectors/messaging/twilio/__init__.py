"""SMS and WhatsApp through Twilio's Programmable Messaging API: `units` (error codes), `error`, `proxy`.

`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From`, `Body`, HTTP
basic auth (Account SID, Auth Token). WhatsApp uses the same endpoint with `whatsapp:` in front of
both numbers. Failures come back as `{"code", "message", "more_info", "status"}`; the `code` decides
whether trying again can help, and whether the recipient (`RECIPIENT_CODES`) or our setup
(`CONFIGURATION_CODES`) is the problem.
"""

from __future__ import annotations

from connectors.messaging.twilio.proxy import WHATSAPP_PREFIX, TwilioSender
from connectors.messaging.twilio.units import (
    CONFIGURATION_CODES,
    PERMANENT_CODES,
    RECIPIENT_CODES,
    RECIPIENT_SUPPRESSIONS,
    TEMPORARY_CODES,
)

__all__ = [
    "CONFIGURATION_CODES",
    "PERMANENT_CODES",
    "RECIPIENT_CODES",
    "RECIPIENT_SUPPRESSIONS",
    "TEMPORARY_CODES",
    "WHATSAPP_PREFIX",
    "TwilioSender",
]

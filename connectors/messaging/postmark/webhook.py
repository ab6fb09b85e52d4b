"""Postmark's webhooks: check the basic-auth credentials, then read the one record the POST carries.

Postmark signs nothing: a webhook is protected by HTTP basic auth put in its URL
(`https://user:password@host/v1/providers/postmark/events`), which arrives as an `Authorization: Basic` header.
The expected pair is `AFTERCARE_POSTMARK_WEBHOOK_USER` / `AFTERCARE_POSTMARK_WEBHOOK_PASSWORD`. The body is one
JSON object whose `RecordType` says what happened; the recipient is `Recipient` (Delivery, Open, Click,
SubscriptionChange) or `Email` (Bounce, SpamComplaint), our own data comes back in `Metadata`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.messaging.callbacks import KEY_FIELD, CallbackRefused, event_hash, json_body, text
from connectors.messaging.postmark.units_events import RECORD_TYPES, map_bounce, map_subscription_change
from connectors.webhooks import header, same
from domain import Channel
from domain.delivery import DeliveryEvent

PROVIDER = "postmark"
# RecordType -> the field holding when it happened
TIME_FIELDS = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}


def basic_auth(user: str, password: str) -> str:
    """The Authorization header Postmark sends for credentials in the webhook URL (for tests)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def verify(headers: Mapping[str, str], user: str, password: str) -> None:
    """Raise CallbackRefused unless the request carries the configured basic-auth pair (constant time)."""
    if not user or not password:
        raise CallbackRefused(
            "unconfigured",
            "no Postmark webhook credentials: set AFTERCARE_POSTMARK_WEBHOOK_USER and"
            " AFTERCARE_POSTMARK_WEBHOOK_PASSWORD",
        )
    given = header(headers, "Authorization") or ""
    scheme, _, encoded = given.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise CallbackRefused("signature", "missing basic auth: put user:password@ in the webhook URL in Postmark")
    try:
        given_user, _, given_password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise CallbackRefused("signature", "malformed basic auth header") from None
    user_ok = same(given_user, user)
    password_ok = same(given_password, password)
    if not (user_ok and password_ok):
        raise CallbackRefused("signature", "wrong basic auth credentials for the Postmark webhook")


def parse(body: bytes, headers: Mapping[str, str], user: str, password: str) -> list[DeliveryEvent]:
    """The event of a verified Postmark webhook (none for records we do not track)."""
    verify(headers, user, password)
    record = json_body(body)
    if not isinstance(record, dict):
        raise CallbackRefused("malformed", "body must be a JSON object (one Postmark webhook record)")
    record_type = record.get("RecordType")
    if not isinstance(record_type, str) or not record_type:
        raise CallbackRefused("malformed", "no RecordType in the Postmark record")
    if record_type not in TIME_FIELDS:
        return []  # Inbound and future record types: not delivery news
    mapped = _mapped(record_type, record)
    if mapped is None:
        return []
    status, suppress = mapped
    message_id = record.get("MessageID")
    if message_id is not None and not isinstance(message_id, str):
        raise CallbackRefused("malformed", "MessageID must be a string")
    occurred_at = _time(record, TIME_FIELDS[record_type])
    metadata = record.get("Metadata")
    key = metadata.get(KEY_FIELD) if isinstance(metadata, dict) else None
    recipient = record.get("Recipient") or record.get("Email")
    bounce_id = record.get("ID")
    vendor_event = record_type
    if record_type == "Bounce":
        vendor_event = f"Bounce ({record.get('Type') or record.get('TypeCode')})"
    elif record_type == "SubscriptionChange":
        vendor_event = f"SubscriptionChange ({record.get('SuppressionReason')})"
    return [
        DeliveryEvent(
            provider=PROVIDER,
            channels=(Channel.EMAIL,),
            event_id=f"{record_type}:{bounce_id}"
            if isinstance(bounce_id, int)
            else event_hash(record_type, message_id, record.get(TIME_FIELDS[record_type]), recipient),
            provider_message_id=message_id[:300] if message_id else None,
            idempotency_key=text(key, 300) if isinstance(key, str) and key else None,
            vendor_event=vendor_event[:100],
            status=status,
            suppress=suppress,
            occurred_at=occurred_at,
            recipient=text(recipient, 320) or None,
            detail=text(record.get("Details") or record.get("Description"), 500),
        )
    ]


def _mapped(record_type: str, record: dict[str, Any]) -> Any:
    if record_type == "Bounce":
        code = record.get("TypeCode")
        return map_bounce(
            record.get("Type") if isinstance(record.get("Type"), str) else None, code if isinstance(code, int) else None
        )
    if record_type == "SubscriptionChange":
        suppress_sending = record.get("SuppressSending")
        if not isinstance(suppress_sending, bool):
            raise CallbackRefused("malformed", "SubscriptionChange without a true/false SuppressSending")
        reason = record.get("SuppressionReason")
        return map_subscription_change(suppress_sending, reason if isinstance(reason, str) else None)
    return RECORD_TYPES[record_type]


def _time(record: dict[str, Any], field: str) -> datetime | None:
    raw = record.get(field)
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise CallbackRefused("malformed", f"{field} is not an ISO 8601 time: {str(raw)[:40]!r}") from None
    if at.tzinfo is None:
        raise CallbackRefused("malformed", f"{field} has no timezone: {str(raw)[:40]!r}")
    return at

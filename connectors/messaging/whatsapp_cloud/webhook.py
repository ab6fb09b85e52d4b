"""WhatsApp Cloud API webhooks: the signed POST of message statuses, and the GET verification handshake.

Meta signs each POST with HMAC-SHA256 of the raw body, keyed with the app secret, sent as
`X-Hub-Signature-256: sha256=<hex>` (`AFTERCARE_WHATSAPP_APP_SECRET`). Subscribing the callback URL, Meta
first sends `GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...` and expects the challenge back
when the token is the one set in the app dashboard (`AFTERCARE_WHATSAPP_VERIFY_TOKEN`). Statuses come as
`{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field": "messages", "value":
{"statuses": [{"id", "status", "timestamp", "recipient_id", "errors": [...]}]}}]}]}`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from typing import Any

from connectors.messaging.callbacks import (
    MAX_EVENTS,
    CallbackRefused,
    from_unix,
    json_body,
    text,
)
from connectors.messaging.whatsapp_cloud.units_events import map_status
from connectors.webhooks import header, same
from domain import Channel
from domain.delivery import DeliveryEvent

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
PROVIDER = "whatsapp_cloud"


def sign(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, headers: Mapping[str, str], app_secret: str) -> None:
    """Raise CallbackRefused unless `body` carries Meta's signature made with the app secret."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise CallbackRefused("signature", f"missing {SIGNATURE_HEADER} header")
    if not app_secret:
        raise CallbackRefused("unconfigured", "no WhatsApp app secret: set AFTERCARE_WHATSAPP_APP_SECRET")
    if not same(given.strip().lower(), sign(body, app_secret)):
        raise CallbackRefused("signature", f"bad signature in {SIGNATURE_HEADER} (wrong app secret?)")


def handshake(query: Mapping[str, str], verify_token: str) -> str:
    """The challenge to echo when Meta subscribes the URL with our verify token; CallbackRefused otherwise."""
    if not verify_token:
        raise CallbackRefused("unconfigured", "no WhatsApp verify token: set AFTERCARE_WHATSAPP_VERIFY_TOKEN")
    token, challenge = query.get("hub.verify_token") or "", query.get("hub.challenge") or ""
    if query.get("hub.mode") != "subscribe":
        raise CallbackRefused("signature", "hub.mode must be 'subscribe'")
    if not same(token, verify_token):
        raise CallbackRefused("signature", "hub.verify_token does not match AFTERCARE_WHATSAPP_VERIFY_TOKEN")
    if not challenge or len(challenge) > 200:
        raise CallbackRefused("malformed", "hub.challenge is missing or too long")
    return challenge


def parse(body: bytes, headers: Mapping[str, str], app_secret: str) -> list[DeliveryEvent]:
    """The status events of a verified webhook; inbound messages and other fields are left out."""
    verify(body, headers, app_secret)
    payload = json_body(body)
    if not isinstance(payload, dict):
        raise CallbackRefused("malformed", "body must be a JSON object")
    if payload.get("object") != "whatsapp_business_account":
        raise CallbackRefused("malformed", "'object' must be 'whatsapp_business_account'")
    events = []
    for where, status in _statuses(payload):
        event = _event(where, status)
        if event is not None:
            events.append(event)
        if len(events) > MAX_EVENTS:
            raise CallbackRefused("malformed", f"more than {MAX_EVENTS} statuses in one body")
    return events


def _statuses(payload: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise CallbackRefused("malformed", "'entry' must be a list")
    for e, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise CallbackRefused("malformed", f"entry[{e}].changes must be a list")
        for c, change in enumerate(changes):
            if not isinstance(change, dict):
                raise CallbackRefused("malformed", f"entry[{e}].changes[{c}] is not an object")
            if change.get("field") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                raise CallbackRefused("malformed", f"entry[{e}].changes[{c}].value is not an object")
            statuses = value.get("statuses", [])
            if not isinstance(statuses, list):
                raise CallbackRefused("malformed", f"entry[{e}].changes[{c}].value.statuses must be a list")
            for s, status in enumerate(statuses):
                yield f"entry[{e}].changes[{c}].value.statuses[{s}]", status


def _event(where: str, raw: Any) -> DeliveryEvent | None:
    if not isinstance(raw, dict):
        raise CallbackRefused("malformed", f"{where} is not an object")
    message_id, status = raw.get("id"), raw.get("status")
    if not isinstance(message_id, str) or not message_id:
        raise CallbackRefused("malformed", f"{where} has no message 'id'")
    if not isinstance(status, str) or not status:
        raise CallbackRefused("malformed", f"{where} has no 'status'")
    if "timestamp" not in raw:
        raise CallbackRefused("malformed", f"{where} has no 'timestamp'")
    occurred_at = from_unix(raw["timestamp"], f"{where}.timestamp")
    errors = raw.get("errors") if isinstance(raw.get("errors"), list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = first.get("code") if isinstance(first.get("code"), int) else None
    mapped = map_status(status, code)
    if mapped is None:
        return None
    key = raw.get("biz_opaque_callback_data")
    detail = " ".join(text(first.get(f), 200) for f in ("code", "title", "message") if first.get(f) is not None)
    return DeliveryEvent(
        provider=PROVIDER,
        channels=(Channel.WHATSAPP,),
        event_id=text(f"{message_id}:{status}:{raw['timestamp']}", 300),
        provider_message_id=text(message_id, 300),
        idempotency_key=text(key, 300) if isinstance(key, str) and key else None,
        vendor_event=text(status if code is None else f"{status} ({code})", 100),
        status=mapped[0],
        suppress=mapped[1],
        occurred_at=occurred_at,
        recipient=text(raw.get("recipient_id"), 320) or None,
        detail=detail[:500],
    )

"""17TRACK webhook verification, then the push envelope around a parcel.

17TRACK signs every push (api.17track.net v2.2, "Webhook"): header `sign` = hex SHA-256 of the raw body, a
`/`, and the account's security key (`sha256(body + "/" + key)`; a plain hash, not an HMAC). Compared in
constant time before the body is read. Events: `TRACKING_UPDATED` (data: the parcel with its `track_info`)
and `TRACKING_STOPPED` (17TRACK stopped following the parcel: nothing new to tell).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from connectors.carriers.base import WebhookError
from connectors.carriers.common import webhook_json
from connectors.webhooks import header, same

SIGNATURE_HEADER = "sign"
UPDATED = "TRACKING_UPDATED"
STOPPED = "TRACKING_STOPPED"


def sign(body: bytes, key: str) -> str:
    """The `sign` header 17TRACK sends for `body`: hex SHA-256 of body + "/" + security key."""
    return hashlib.sha256(body + b"/" + key.encode()).hexdigest()


def verify(body: bytes, headers: Mapping[str, str], key: str) -> None:
    """Raise WebhookError unless `body` carries 17TRACK's `sign` made with `key`."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise WebhookError(f"missing `{SIGNATURE_HEADER}` header (17TRACK's signature)")
    if not key:
        raise WebhookError("no 17TRACK security key is configured, cannot verify the signature")
    if not same(given.strip().lower(), sign(body, key)):
        raise WebhookError(f"bad signature in `{SIGNATURE_HEADER}` header (wrong security key, or a changed body?)")


def push_of(body: bytes, headers: Mapping[str, str], key: str) -> tuple[str, dict[str, Any]]:
    """The event name and parcel of a verified push; WebhookError naming what is wrong otherwise."""
    verify(body, headers, key)
    push = webhook_json(body)
    if not isinstance(push, dict) or "event" not in push:
        raise WebhookError("not a 17TRACK push: the body has no `event`")
    event = push.get("event")
    if event not in (UPDATED, STOPPED):
        raise WebhookError(f"not a 17TRACK tracking event: {str(event)[:60]!r}")
    data = push.get("data")
    if not isinstance(data, dict):
        raise WebhookError(f"{event} without a parcel: `data` is {type(data).__name__}, not an object")
    if not isinstance(data.get("number"), str) or not data["number"].strip():
        raise WebhookError(f"{event} parcel without a `number`")
    info = data.get("track_info")
    if event == UPDATED and not isinstance(info, dict):
        raise WebhookError(f"{UPDATED} parcel without a `track_info` object")
    return str(event), data

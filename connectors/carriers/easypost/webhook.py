"""EasyPost webhook verification: the `X-Hmac-Signature` check and the Event envelope around a Tracker.

EasyPost signs the raw body with HMAC-SHA256, key = the NFKD-normalised webhook secret, and sends
`hmac-sha256-hex=<digest>`. A tracker push is an `Event` whose `description` starts with `tracker.`
and whose `result` is the whole Tracker.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from typing import Any

from connectors.carriers.base import WebhookError
from connectors.carriers.common import webhook_json
from connectors.webhooks import header, same

SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="


def sign(body: bytes, secret: str) -> str:
    """The `X-Hmac-Signature` value EasyPost sends for `body`."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Raise WebhookError unless `body` carries EasyPost's signature made with `secret`."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise WebhookError(f"missing {SIGNATURE_HEADER} header")
    if not secret:
        raise WebhookError("no EasyPost webhook secret is configured, cannot verify the signature")
    if not same(given.strip(), sign(body, secret)):
        raise WebhookError(f"bad signature in {SIGNATURE_HEADER} header (wrong webhook secret?)")


def tracker_of(body: bytes, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    """The Tracker a verified tracker Event carries; WebhookError naming what is wrong otherwise."""
    verify(body, headers, secret)
    event = webhook_json(body)
    if not isinstance(event, dict) or event.get("object") != "Event":
        raise WebhookError("not an EasyPost Event object")
    description = str(event.get("description") or "")
    result = event.get("result")
    if not description.startswith("tracker.") or not isinstance(result, dict):
        raise WebhookError(f"not a tracker event: {description or 'no description'!r}")
    if result.get("object") != "Tracker":
        raise WebhookError("not a tracker event: its result is not a Tracker")
    return result

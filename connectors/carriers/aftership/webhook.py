"""AfterShip webhook verification: the `aftership-hmac-sha256` check, then the envelope around a Tracking.

AfterShip signs the raw body: base64 of HMAC-SHA256, key = the webhook secret as UTF-8 text, no prefix, no
timestamp. The body is `{"event", "event_id", "is_tracking_first_tag", "msg": <Tracking>, "ts"}`; `event` is
`tracking_update`, `edd_revise` or `tracking_pending_time`, each carrying the whole Tracking.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from connectors.carriers.base import WebhookError
from connectors.carriers.common import webhook_json
from connectors.webhooks import header, same

SIGNATURE_HEADER = "aftership-hmac-sha256"
EVENTS = frozenset({"tracking_update", "edd_revise", "tracking_pending_time"})


def sign(body: bytes, secret: str) -> str:
    """The `aftership-hmac-sha256` value AfterShip sends for `body`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Raise WebhookError unless `body` carries AfterShip's signature made with `secret`."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise WebhookError(f"missing {SIGNATURE_HEADER} signature header")
    if not secret:
        raise WebhookError("no AfterShip webhook secret is configured, cannot verify the signature")
    if not same(given.strip(), sign(body, secret)):
        raise WebhookError(f"bad signature in {SIGNATURE_HEADER} header (wrong webhook secret?)")


def tracking_of(body: bytes, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    """The Tracking a verified webhook carries in `msg`; WebhookError naming what is wrong otherwise."""
    verify(body, headers, secret)
    payload = webhook_json(body)
    if not isinstance(payload, dict) or "msg" not in payload:
        raise WebhookError("not an AfterShip webhook: no msg object")
    event = payload.get("event")
    if event not in EVENTS:
        raise WebhookError(
            f"not an AfterShip tracking event: event {event!r}; expected one of {', '.join(sorted(EVENTS))}"
        )
    msg = payload["msg"]
    if not isinstance(msg, dict):
        raise WebhookError("msg is not a Tracking object")
    number = msg.get("tracking_number")
    if not isinstance(number, str) or not number.strip():
        raise WebhookError("msg.tracking_number is missing")
    checkpoints = msg.get("checkpoints", [])
    if checkpoints is not None and not isinstance(checkpoints, list):
        raise WebhookError("msg.checkpoints is not a list")
    return msg

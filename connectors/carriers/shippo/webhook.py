"""Shippo webhook verification, then the `track_updated` envelope around a Track.

Shippo publishes three ways to trust a push (docs.goshippo.com, "Webhook security"): an IP allowlist, a
self-generated token in the webhook URL's query (`?token=...`), and HMAC. We take either of the last two,
both checked against the one secret (`AFTERCARE_SHIPPO_WEBHOOK_SECRET`) and both in constant time:

- HMAC (Shippo enables it for an account on request): header `Shippo-Auth-Signature: t=<unix seconds>,
  v1=<hex>`, where v1 = HMAC-SHA256 of `"<t>." + raw body` keyed by the secret; a `t` more than five minutes
  from our clock is refused (a replayed push). When the header is present it must be right, token or not.
- Token: no header, and the URL's `token` query parameter equals the secret. Self-serve in Shippo's
  dashboard; the token never reaches our logs (`aftercare.logs` redacts `token=`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from connectors.carriers.base import WebhookError
from connectors.carriers.common import webhook_json
from connectors.webhooks import header, same

SIGNATURE_HEADER = "Shippo-Auth-Signature"
TOKEN_PARAM = "token"
TOLERANCE_SECONDS = 300
TRACK_EVENT = "track_updated"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Shippo-Auth-Signature` value Shippo sends for `body` at `timestamp` (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _verify_signature(given: str, body: bytes, secret: str, now: float) -> None:
    fields: dict[str, list[str]] = {}
    for part in given.split(","):
        key, eq, value = part.strip().partition("=")
        if eq:
            fields.setdefault(key, []).append(value.strip())
    stamps, digests = fields.get("t") or [], fields.get("v1") or []
    if len(stamps) != 1 or not stamps[0].isdigit() or not digests:
        raise WebhookError(f"malformed {SIGNATURE_HEADER} header: expected t=<unix seconds>,v1=<hex signature>")
    t = int(stamps[0])
    expected = sign(body, secret, t).split("v1=", 1)[1]
    if not any(same(d.lower(), expected) for d in digests):
        raise WebhookError(f"bad signature in {SIGNATURE_HEADER} header (wrong webhook secret, or a changed body?)")
    if abs(now - t) > TOLERANCE_SECONDS:
        raise WebhookError(
            f"stale signature in {SIGNATURE_HEADER} header: signed {int(now - t)} s before now "
            f"(limit {TOLERANCE_SECONDS} s)"
        )


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    query: Mapping[str, str] | None = None,
    now: float | None = None,
) -> None:
    """Raise WebhookError unless the push carries Shippo's HMAC signature or our token made with `secret`."""
    if not secret:
        raise WebhookError("no Shippo webhook secret is configured, cannot verify the signature")
    given = header(headers, SIGNATURE_HEADER)
    if given:
        _verify_signature(given, body, secret, time.time() if now is None else now)
        return
    token = (query or {}).get(TOKEN_PARAM)
    if token is None:
        raise WebhookError(f"missing {SIGNATURE_HEADER} header (or ?{TOKEN_PARAM}= in the webhook URL)")
    if not same(token, secret):
        raise WebhookError(f"no {SIGNATURE_HEADER} header and a wrong ?{TOKEN_PARAM}= in the webhook URL")


def track_of(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    query: Mapping[str, str] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The Track a verified `track_updated` push carries; WebhookError naming what is wrong otherwise."""
    verify(body, headers, secret, query, now)
    event = webhook_json(body)
    if not isinstance(event, dict) or "event" not in event:
        raise WebhookError("not a Shippo webhook: the body has no `event`")
    if event.get("event") != TRACK_EVENT:
        raise WebhookError(f"not a {TRACK_EVENT} event: {str(event.get('event'))[:60]!r}")
    data = event.get("data")
    if not isinstance(data, dict):
        raise WebhookError(f"{TRACK_EVENT} without a Track: `data` is {type(data).__name__}, not an object")
    if not isinstance(data.get("tracking_number"), str) or not data["tracking_number"].strip():
        raise WebhookError(f"{TRACK_EVENT} Track without a `tracking_number`")
    for name in ("tracking_history",):
        if name in data and data[name] is not None and not isinstance(data[name], list):
            raise WebhookError(f"{TRACK_EVENT} Track's `{name}` is not a list")
    if data.get("tracking_status") is not None and not isinstance(data["tracking_status"], dict):
        raise WebhookError(f"{TRACK_EVENT} Track's `tracking_status` is not an object")
    return data

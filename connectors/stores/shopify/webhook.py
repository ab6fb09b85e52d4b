"""Shopify webhook verification and envelope: `X-Shopify-Hmac-Sha256` and the `X-Shopify-*` headers.

Shopify signs the raw body with HMAC-SHA256 keyed by the app's (or the admin's notification) webhook secret and
sends the digest base64-encoded. The shop is `X-Shopify-Shop-Domain` (its myshopify.com host), the topic
`X-Shopify-Topic` (orders/create...), the delivery id `X-Shopify-Webhook-Id` (the same on every retry).
Checked constant-time, before the body is parsed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from connectors.stores.base import SignatureError, WebhookError, header
from domain.stores import StoreDelivery, StorePlatform

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_HEADER = "X-Shopify-Shop-Domain"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"
API_VERSION_HEADER = "X-Shopify-API-Version"


def sign(body: bytes, secret: str) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends for `body`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """SignatureError unless `body` carries Shopify's signature made with `secret`."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header: Shopify signs every webhook")
    if not secret:
        raise SignatureError("no Shopify webhook secret is configured for this shop, cannot verify the signature")
    if not hmac.compare_digest(given.encode(), sign(body, secret).encode()):
        raise SignatureError(f"bad signature in {SIGNATURE_HEADER} header (wrong webhook secret, or a changed body?)")


def shop_of(headers: Mapping[str, str]) -> str:
    """The shop's myshopify.com host, lower case."""
    shop = (header(headers, SHOP_HEADER) or "").lower()
    if not shop:
        raise WebhookError(f"missing {SHOP_HEADER} header: it names the shop the webhook is from")
    if len(shop) > 255:
        raise WebhookError(f"{SHOP_HEADER} header is longer than a host name may be")
    return shop


def envelope(headers: Mapping[str, str], shop: str, body: bytes) -> StoreDelivery:
    """Topic and delivery id. A delivery without `X-Shopify-Webhook-Id` is known by its body's SHA-256: the same
    bytes again are the same delivery."""
    topic = (header(headers, TOPIC_HEADER) or "").lower()
    if not topic:
        raise WebhookError(f"missing {TOPIC_HEADER} header: it says what the webhook is about (orders/create...)")
    if len(topic) > 64:
        raise WebhookError(f"{TOPIC_HEADER} header is longer than any Shopify topic")
    delivery_id = header(headers, WEBHOOK_ID_HEADER) or f"sha256:{hashlib.sha256(body).hexdigest()}"
    if len(delivery_id) > 255:
        raise WebhookError(f"{WEBHOOK_ID_HEADER} header is longer than 255 characters")
    return StoreDelivery(platform=StorePlatform.SHOPIFY, shop=shop, topic=topic, delivery_id=delivery_id)


def json_object(body: bytes, topic: str) -> dict[str, Any]:
    """The decoded body, which must be one JSON object."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(f"{topic}: the body is not valid JSON ({type(exc).__name__} at {_where(exc)})") from None
    if not isinstance(data, dict):
        raise WebhookError(f"{topic}: the body must be a JSON object, not {type(data).__name__}")
    return data


def _where(exc: Exception) -> str:
    pos = getattr(exc, "pos", None)
    return f"byte {pos}" if pos is not None else "its start"

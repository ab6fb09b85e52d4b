"""WooCommerce webhook deliveries: the signature check, the envelope, the ping, and the body's events.

How WooCommerce delivers (`WC_Webhook::deliver`, plugins/woocommerce/includes/class-wc-webhook.php): a POST
whose body is the JSON of the REST API v3 resource, with `X-WC-Webhook-Source` (the site's home URL, e.g.
`https://shop.example.com/`), `-Topic` (`order.created`), `-Resource`, `-Event`, `-Signature` (base64 of
the HMAC-SHA256 of the raw body, keyed by the webhook's secret), `-ID` (the webhook) and `-Delivery-ID`.
When a webhook is saved, WooCommerce first POSTs a ping, `webhook_id=<id>` form-encoded with none of those
headers, and activates the webhook only if the answer is 200 (`WC_Webhook::deliver_ping`).

The route's order of work: `is_ping` (answer 200, store nothing), `verify` (401 before anything is read),
`envelope` (who sent it, the topic, an id to drop a repeat by), then `parse`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import ValidationError

from connectors.stores.woocommerce import mapper, models
from connectors.stores.woocommerce.error import WooCommerceWebhookError, refused, unusable
from connectors.stores.woocommerce.units import TOPICS, Topic
from domain.stores import StoreDelivery, StoreEvent, StorePlatform

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
SOURCE_HEADER = "X-WC-Webhook-Source"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"
WEBHOOK_ID_HEADER = "X-WC-Webhook-ID"
MAX_BODY = 4 * 1024 * 1024  # a 500-line order with its meta is well under this
_PING = re.compile(rb"webhook_id=\d{1,20}")


def sign(body: bytes, secret: str) -> str:
    """The `X-WC-Webhook-Signature` WooCommerce sends for `body`: base64(HMAC-SHA256(body, secret))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (servers and test clients spell them differently)."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def is_ping(body: bytes, headers: Mapping[str, str]) -> bool:
    """WooCommerce's test delivery when a webhook is saved: answer it 200 and keep nothing. It carries no
    signature and no topic, only `webhook_id=<id>`; a delivery with a topic is never taken for one."""
    return header(headers, TOPIC_HEADER) is None and _PING.fullmatch(body.strip()) is not None


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Raise `WooCommerceWebhookError` (401) unless `body` is signed with `secret`; constant-time, and before
    the body is read. An empty `secret` is our configuration missing (503), not the sender's fault."""
    given = header(headers, SIGNATURE_HEADER)
    if not given or not given.strip():
        raise refused(f"missing {SIGNATURE_HEADER} header")
    if not secret:
        raise WooCommerceWebhookError(
            "no WooCommerce webhook secret is configured for this store, cannot verify the signature", status_code=503
        )
    if not hmac.compare_digest(given.strip().encode(), sign(body, secret).encode()):
        raise refused(f"bad signature in {SIGNATURE_HEADER} header (wrong webhook secret, or the body was changed)")


def envelope(headers: Mapping[str, str], body: bytes) -> StoreDelivery:
    """Who sent the delivery and about what. The shop is the site URL's host (and path, for a site that
    lives in a folder), lower case: `shop.example.com`, `example.com/store`.

    The delivery id is WooCommerce's `X-WC-Webhook-Delivery-ID` joined with a hash of the body: WooCommerce
    makes its id from the webhook id and the current second (`get_new_delivery_id`), so two different
    orders sent by one webhook within a second share it. The same body under the same id is a repeat.
    """
    topic = (header(headers, TOPIC_HEADER) or "").strip()
    if not topic:
        raise unusable(f"missing {TOPIC_HEADER} header")
    shop = shop_of(header(headers, SOURCE_HEADER) or "")
    delivery = (header(headers, DELIVERY_HEADER) or "").strip()
    delivery_id = f"{delivery[:128]}.{hashlib.sha256(body).hexdigest()[:32]}" if delivery else None
    try:
        return StoreDelivery(platform=StorePlatform.WOOCOMMERCE, shop=shop, topic=topic[:64], delivery_id=delivery_id)
    except ValidationError as err:
        fields = ", ".join(str(e["loc"][0]) for e in err.errors())
        raise unusable(f"the delivery's headers cannot be used ({fields})") from None


def shop_of(source: str) -> str:
    """`https://Shop.Example.com/` -> `shop.example.com`; `https://example.com/store/` -> `example.com/store`."""
    parts = urlsplit(source.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise unusable(f"{SOURCE_HEADER} header is not the site's URL (http or https)")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    path = parts.path.rstrip("/")
    shop = (host + path).lower()
    if len(shop) > 255:
        raise unusable(f"{SOURCE_HEADER} header is longer than 255 characters")
    return shop


def parse(topic: str, body: bytes, merchant_id: str) -> list[StoreEvent]:
    """The events a verified delivery carries. A topic we do not act on (`product.updated`, `order.deleted`)
    carries none: answered 200, so WooCommerce does not count it as a failure and disable the webhook."""
    if topic not in TOPICS:
        return []
    if len(body) > MAX_BODY:
        raise WooCommerceWebhookError(f"body is larger than {MAX_BODY // (1024 * 1024)} MiB", status_code=413)
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise unusable("body is not UTF-8 text") from None
    except json.JSONDecodeError as err:  # says where, never what: the body holds a customer's details
        raise unusable(f"body is not JSON (truncated or malformed at line {err.lineno} column {err.colno})") from None
    if not isinstance(data, dict):
        raise unusable("body is not a WooCommerce order object")
    if "order" in data and "id" not in data:
        raise unusable(
            "body is the Legacy REST API's format: set the webhook's API version to 'WP REST API Integration v3'"
        )
    try:
        order = models.Order.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:10])
        raise unusable(f"body is not a WooCommerce order: {problems}") from None
    return mapper.events(Topic(topic), order, merchant_id)

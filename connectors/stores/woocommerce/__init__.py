"""WooCommerce store connector, in the karrio layout: `units` (topics, order statuses, the Stripe gateway's
meta), `models` (the REST API v3 order a webhook carries), `mapper` (that order in our words: `Order`,
`domain.stores` events), `error` (a refused delivery with its HTTP status) and `webhook` (ping, signature,
envelope, parse). No `proxy`: everything we need comes in the webhook, nothing is fetched.

A route takes a delivery in this order: `is_ping` -> 200; `verify(body, headers, secret)`;
`envelope(headers, body)` -> `StoreDelivery`; `parse(topic, body, merchant_id)` -> `list[StoreEvent]`.
"""

from __future__ import annotations

from connectors.stores.woocommerce.error import WooCommerceWebhookError
from connectors.stores.woocommerce.units import Topic
from connectors.stores.woocommerce.webhook import envelope, is_ping, parse, shop_of, sign, verify

__all__ = ["Topic", "WooCommerceWebhookError", "envelope", "is_ping", "parse", "shop_of", "sign", "verify"]

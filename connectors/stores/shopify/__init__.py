"""Shopify store connector, the karrio layout: `units` (shipment statuses and topics), `models` (Shopify's REST
webhook bodies: Order, Fulfillment, Refund), `mapper` (those -> `domain.stores` events), `webhook`
(`X-Shopify-Hmac-Sha256` and the `X-Shopify-*` envelope) and `connector` (`ShopifyWebhooks`, which the API's
store route drives, and `ShopifyTracking`, Shopify as a tracking provider).

No proxy: Aftercare only listens to Shopify (its webhooks); it never calls the Admin API.
"""

from __future__ import annotations

from connectors.stores.shopify.connector import ShopifyTracking, ShopifyWebhooks
from connectors.stores.shopify.mapper import PROVIDER, fulfillment_event, order_event, refund_event, to_order
from connectors.stores.shopify.units import SHIPMENT_STATUS_MAP, TOPICS, map_shipment_status
from connectors.stores.shopify.webhook import SHOP_HEADER, SIGNATURE_HEADER, TOPIC_HEADER, WEBHOOK_ID_HEADER, sign

__all__ = [
    "PROVIDER",
    "SHIPMENT_STATUS_MAP",
    "SHOP_HEADER",
    "SIGNATURE_HEADER",
    "TOPICS",
    "TOPIC_HEADER",
    "WEBHOOK_ID_HEADER",
    "ShopifyTracking",
    "ShopifyWebhooks",
    "fulfillment_event",
    "map_shipment_status",
    "order_event",
    "refund_event",
    "sign",
    "to_order",
]

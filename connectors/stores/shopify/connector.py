"""`ShopifyWebhooks`: Shopify's side of the store webhook steps (`connectors.stores.base.StoreWebhooks`), and
`ShopifyTracking`: Shopify as a tracking provider, for merchants who track through Shopify's own fulfillment events.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.carriers.base import WebhookError as CarrierWebhookError
from connectors.stores.shopify import mapper, webhook
from connectors.stores.shopify.units import FULFILLMENT_TOPICS, ORDER_TOPICS, REFUND_TOPICS
from domain import PollResult, TrackingEvent
from domain.stores import StoreDelivery, StoreEvent, StorePlatform


class ShopifyWebhooks:
    platform = StorePlatform.SHOPIFY
    shop_header = webhook.SHOP_HEADER

    def shop_of(self, headers: Mapping[str, str]) -> str:
        return webhook.shop_of(headers)

    def is_ping(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return False  # Shopify's test deliveries are signed orders like any other

    def verify(self, body: bytes, headers: Mapping[str, str], secret: str) -> None:
        webhook.verify(body, headers, secret)

    def envelope(self, headers: Mapping[str, str], shop: str, body: bytes) -> StoreDelivery:
        return webhook.envelope(headers, shop, body)

    def parse(self, delivery: StoreDelivery, body: bytes, merchant_id: str) -> list[StoreEvent]:
        topic = delivery.topic
        if topic not in ORDER_TOPICS | FULFILLMENT_TOPICS | REFUND_TOPICS:
            return []
        data = webhook.json_object(body, topic)
        if topic in ORDER_TOPICS:
            return [mapper.order_event(topic, data, merchant_id)]
        if topic in FULFILLMENT_TOPICS:
            return [mapper.fulfillment_event(topic, data)]
        return [mapper.refund_event(topic, data)]


class ShopifyTracking:
    """The tracking provider `shopify`: Shopify tells us of a parcel's progress in `fulfillments/update`
    webhooks (its `shipment_status`), which reach the parcel's tracking through `/v1/webhooks/shopify`.

    There is nothing to ask on demand (that needs the merchant's Admin API token, which we do not hold), so
    `track` answers with no scans: the poll activity adds what Shopify pushed before the tracking started."""

    name = mapper.PROVIDER

    async def track(self, tracking_number: str) -> PollResult:
        return PollResult()

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str | None = None) -> list[TrackingEvent]:
        raise CarrierWebhookError(
            "Shopify's shipment updates arrive as fulfillments/update webhooks at /v1/webhooks/shopify, not here"
        )

    async def aclose(self) -> None:
        return None

"""`WooCommerceWebhooks`: WooCommerce's side of the store webhook steps (`connectors.stores.base.StoreWebhooks`),
over the functions of `connectors.stores.woocommerce.webhook`; their refusals become the store route's
(`SignatureError` 401, `WebhookError` 400; an unset secret is the route's own 503, checked before)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from connectors.stores.base import SignatureError, WebhookError
from connectors.stores.woocommerce import webhook
from connectors.stores.woocommerce.error import WooCommerceWebhookError
from domain.stores import StoreDelivery, StoreEvent, StorePlatform

T = TypeVar("T")


def _refusal(call: Callable[[], T]) -> T:
    try:
        return call()
    except WooCommerceWebhookError as err:
        if err.status_code == 401:
            raise SignatureError(str(err)) from None
        raise WebhookError(str(err)) from None


class WooCommerceWebhooks:
    platform = StorePlatform.WOOCOMMERCE
    shop_header = webhook.SOURCE_HEADER

    def shop_of(self, headers: Mapping[str, str]) -> str:
        source = webhook.header(headers, webhook.SOURCE_HEADER)
        if not source:
            raise WebhookError(f"missing {webhook.SOURCE_HEADER} header: it names the site the webhook is from")
        return _refusal(lambda: webhook.shop_of(source))

    def is_ping(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return webhook.is_ping(body, headers)

    def verify(self, body: bytes, headers: Mapping[str, str], secret: str) -> None:
        _refusal(lambda: webhook.verify(body, headers, secret))

    def envelope(self, headers: Mapping[str, str], shop: str, body: bytes) -> StoreDelivery:
        return _refusal(lambda: webhook.envelope(headers, body))

    def parse(self, delivery: StoreDelivery, body: bytes, merchant_id: str) -> list[StoreEvent]:
        return _refusal(lambda: webhook.parse(delivery.topic, body, merchant_id))

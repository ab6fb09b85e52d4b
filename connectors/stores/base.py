"""What every store connector offers the API: find the shop a delivery names, verify it, read its envelope, and
map its body onto `domain.stores` events.

`api/routes/stores.py` runs the same steps for every platform (shop -> merchant -> secret -> signature -> envelope
-> dedupe -> parse -> act); a platform plugs in by implementing `StoreWebhooks` and being listed in
`connectors.stores.STORES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from domain.stores import StoreDelivery, StoreEvent, StorePlatform


class WebhookError(ValueError):
    """A delivery we refuse (400): a header missing, a body that is not the store's format. The message names
    the field or the problem, never a value that could be personal data."""


class SignatureError(WebhookError):
    """The delivery is not signed with the shop's secret (401): missing or wrong signature."""


class StoreWebhooks(Protocol):
    """One store platform's webhooks."""

    platform: StorePlatform
    shop_header: str  # the header naming the shop (X-Shopify-Shop-Domain, X-WC-Webhook-Source)

    def shop_of(self, headers: Mapping[str, str]) -> str:
        """The shop the delivery says it is from, normalised as policies write it; WebhookError if none."""
        ...

    def is_ping(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """A store's unsigned test delivery (WooCommerce's when a webhook is saved): answered 200, nothing kept."""
        ...

    def verify(self, body: bytes, headers: Mapping[str, str], secret: str) -> None:
        """SignatureError unless the raw `body` is signed with `secret` (constant-time, before any parsing)."""
        ...

    def envelope(self, headers: Mapping[str, str], shop: str, body: bytes) -> StoreDelivery:
        """Topic and delivery id of a verified delivery; WebhookError if the topic is missing."""
        ...

    def parse(self, delivery: StoreDelivery, body: bytes, merchant_id: str) -> list[StoreEvent]:
        """The events a verified body means for `merchant_id`, in order (none for a topic we do not act on; a
        WooCommerce order brings its refunds along); WebhookError naming what is wrong for a body that is not
        the platform's format."""
        ...


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever its case (Starlette's headers are case-insensitive; a plain dict is not)."""
    wanted = name.lower()
    value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value.strip() if value is not None else None

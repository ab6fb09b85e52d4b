"""Store connectors, one package per platform, and the registry the API's webhook route finds them in.

Each platform implements `StoreWebhooks` (connectors/stores/base.py) and maps its bodies onto the events of
`domain.stores`; `api/routes/stores.py` acts on those the same way for every platform. Adding a platform: its
package, then one line in `STORES`.
"""

from __future__ import annotations

from connectors.stores.base import SignatureError, StoreWebhooks, WebhookError
from connectors.stores.shopify import ShopifyWebhooks
from connectors.stores.woocommerce.connector import WooCommerceWebhooks
from domain.stores import StorePlatform

STORES: dict[StorePlatform, StoreWebhooks] = {
    StorePlatform.SHOPIFY: ShopifyWebhooks(),
    StorePlatform.WOOCOMMERCE: WooCommerceWebhooks(),
}

__all__ = ["STORES", "SignatureError", "StoreWebhooks", "WebhookError"]

"""Carrier connectors, one package per carrier, and the registry the activities look carriers up in.

A carrier that also makes return labels satisfies `ReturnLabelMaker` (EasyPost does).
"""

from __future__ import annotations

import httpx

from connectors.carriers.base import CarrierClient, CarrierError, ReturnLabelMaker, WebhookError
from connectors.carriers.easypost import EasyPostCarrier


def build_carriers(
    easypost_base_url: str,
    easypost_api_key: str,
    easypost_webhook_secret: str,
    *,
    http: httpx.AsyncClient | None = None,
) -> dict[str, CarrierClient]:
    """Every configured carrier by its `name` (the `carrier` of a Shipment); the shell passes settings in.

    `shopify` is Shopify's own fulfillment events, for merchants who track through their store."""
    from connectors.stores.shopify.connector import ShopifyTracking  # here: that package imports this one's base

    carriers: list[CarrierClient] = [
        EasyPostCarrier(easypost_base_url, easypost_api_key, easypost_webhook_secret, http=http),
        ShopifyTracking(),
    ]
    return {c.name: c for c in carriers}


__all__ = ["CarrierClient", "CarrierError", "EasyPostCarrier", "ReturnLabelMaker", "WebhookError", "build_carriers"]
